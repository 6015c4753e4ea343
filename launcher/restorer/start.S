/* Entry points of the restorer blob (see restorer.c).
 *
 * restorer_start(plan): ckpt-run jumps here, at offset 0 of the blob, once
 * everything is prepared. It moves to the restorer's own stack (the
 * launcher's is about to be unmapped) and never returns. */
        .section .text.start, "ax"
        .globl restorer_start
        .hidden restorer_start
        .type restorer_start, @function
restorer_start:
        movq 8(%rdi), %rsp          /* plan->hole_start ... */
        addq 16(%rdi), %rsp         /* ... + plan->hole_len: top of the hole */
        andq $-16, %rsp
        xorl %ebp, %ebp
        call restorer_main
        ud2
        .size restorer_start, .-restorer_start

        .text
/* long restorer_clone3(struct clone_args *args, size_t size, void (*fn)(void *), void *arg)
 * The child starts on the stack given in args and runs fn(arg), which never returns. */
        .globl restorer_clone3
        .hidden restorer_clone3
        .type restorer_clone3, @function
restorer_clone3:
        movq %rdx, %r8
        movq %rcx, %r9
        movl $435, %eax
        syscall
        testq %rax, %rax
        jnz 1f
        xorl %ebp, %ebp
        movq %r9, %rdi
        call *%r8
        ud2
1:      ret
        .size restorer_clone3, .-restorer_clone3

/* void restorer_resume(const struct ckpt_plan_resume *ctx, uint64_t info)
 * Loads a context saved by ckpt_save_context and returns into it with
 * `info` as the return value. */
        .globl restorer_resume
        .hidden restorer_resume
        .type restorer_resume, @function
restorer_resume:
        movq %rsi, %rax
        ldmxcsr 64(%rdi)
        fldcw 68(%rdi)
        movq 0(%rdi), %rbx
        movq 8(%rdi), %rbp
        movq 16(%rdi), %r12
        movq 24(%rdi), %r13
        movq 32(%rdi), %r14
        movq 40(%rdi), %r15
        movq 48(%rdi), %rsp
        jmpq *56(%rdi)
        .size restorer_resume, .-restorer_resume

        .section .note.GNU-stack,"",@progbits
