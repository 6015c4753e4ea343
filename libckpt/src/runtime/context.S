/* Register save/restore points for checkpointed threads.
 *
 * long ckpt_save_context(struct ResumeContext *ctx)
 *   Saves the callee-saved registers, the stack pointer and the return
 *   address (like setjmp, without glibc's pointer mangling) and returns 0.
 *   After a restore the restorer loads them back and "returns" a second time
 *   with the address of the ckpt_restore_info in %rax.
 *
 * void ckpt_call_on_stack(void *stack_top, void (*fn)(void *), void *arg)
 *   Runs fn(arg) on another stack: the image writer runs on libckpt's own
 *   stack so that a small application thread stack never overflows. */
        .text
        .globl ckpt_save_context
        .hidden ckpt_save_context
        .type ckpt_save_context, @function
ckpt_save_context:
        .cfi_startproc
        movq %rbx, 0(%rdi)
        movq %rbp, 8(%rdi)
        movq %r12, 16(%rdi)
        movq %r13, 24(%rdi)
        movq %r14, 32(%rdi)
        movq %r15, 40(%rdi)
        leaq 8(%rsp), %rax
        movq %rax, 48(%rdi)
        movq (%rsp), %rax
        movq %rax, 56(%rdi)
        stmxcsr 64(%rdi)
        movl $0, 68(%rdi)
        fnstcw 68(%rdi)
        xorl %eax, %eax
        ret
        .cfi_endproc
        .size ckpt_save_context, .-ckpt_save_context

        .globl ckpt_call_on_stack
        .hidden ckpt_call_on_stack
        .type ckpt_call_on_stack, @function
ckpt_call_on_stack:
        .cfi_startproc
        pushq %rbp
        .cfi_def_cfa_offset 16
        .cfi_offset %rbp, -16
        movq %rsp, %rbp
        .cfi_def_cfa_register %rbp
        andq $-16, %rdi
        movq %rdi, %rsp
        movq %rdx, %rdi
        call *%rsi
        movq %rbp, %rsp
        popq %rbp
        .cfi_def_cfa %rsp, 8
        ret
        .cfi_endproc
        .size ckpt_call_on_stack, .-ckpt_call_on_stack

        .section .note.GNU-stack,"",@progbits
