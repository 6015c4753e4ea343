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
 *   stack so that a small application thread stack never overflows.
 *
 * long ckpt_spawn_thread(void *stack_top, void (*fn)(void *), void *arg, int *tid_word)
 *   Starts a bare thread of this process on stack_top that runs fn(arg)
 *   and exits. It has no TLS of its own (it shares the caller's fs base: fn
 *   must not write thread-local data), inherits the caller's signal mask,
 *   and the kernel sets *tid_word to its tid before returning and clears it
 *   (with a futex wake) once the thread is gone. Returns the tid or -errno. */
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

        .globl ckpt_spawn_thread
        .hidden ckpt_spawn_thread
        .type ckpt_spawn_thread, @function
ckpt_spawn_thread:
        .cfi_startproc
        andq $-16, %rdi
        subq $16, %rdi
        movq %rsi, 0(%rdi)
        movq %rdx, 8(%rdi)
        movq %rdi, %rsi               /* new stack: fn, arg on top */
        /* CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|PARENT_SETTID|CHILD_CLEARTID */
        movl $0x350f00, %edi
        movq %rcx, %rdx               /* parent_tid */
        movq %rcx, %r10               /* child_tid */
        xorl %r8d, %r8d               /* tls: unchanged */
        movl $56, %eax                /* clone */
        syscall
        testq %rax, %rax
        jz 2f
        ret
2:      .cfi_undefined %rip           /* the new thread: nothing to unwind to */
        xorl %ebp, %ebp
        popq %rax
        popq %rdi
        call *%rax
        movl $60, %eax                /* exit (this thread only) */
        xorl %edi, %edi
        syscall
        hlt
        .cfi_endproc
        .size ckpt_spawn_thread, .-ckpt_spawn_thread

        .section .note.GNU-stack,"",@progbits
