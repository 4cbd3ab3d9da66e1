/* Entry of the restore core blob (offset 0) and the final jump into the program.
 * Runs on no libc: see core.c. */
    .section .text.core_entry,"ax",@progbits
    .globl core_entry
    .hidden core_entry
    .type core_entry,@function
/* core_entry(struct restore_plan *plan, void *stack_top): switch to the core's own stack,
 * which lies in the core area and survives the unmapping of restore-run. */
core_entry:
    mov %rsi, %rsp
    and $-16, %rsp
    xor %ebp, %ebp
    call core_main
    ud2
    .size core_entry, .-core_entry

    .text
    .globl core_resume
    .hidden core_resume
    .type core_resume,@function
/* core_resume(const struct ckpt_cpu_context *ctx): the second return of the shim's
 * ckpt_context_save, with rax = 1, on the program's restored stack. */
core_resume:
    mov 0(%rdi), %rbx
    mov 8(%rdi), %rbp
    mov 16(%rdi), %r12
    mov 24(%rdi), %r13
    mov 32(%rdi), %r14
    mov 40(%rdi), %r15
    mov 48(%rdi), %rsp
    mov $1, %eax
    jmp *56(%rdi)
    .size core_resume, .-core_resume

    .globl core_clone_thread
    .hidden core_clone_thread
    .type core_clone_thread,@function
/* long core_clone_thread(flags, stack_top, parent_tid, child_tid, tls, plan, thread):
 * clone(2) of a thread of the program. The parent gets the tid (or -errno). The child
 * starts on stack_top, where plan and thread were put for it, and runs
 * core_thread_main(plan, thread), which never returns: there is no C frame under it. */
core_clone_thread:
    mov 8(%rsp), %rax      /* thread, the 7th argument */
    sub $16, %rsi
    mov %r9, 0(%rsi)       /* plan */
    mov %rax, 8(%rsi)      /* thread */
    mov %rcx, %r10         /* child_tid: the kernel's 4th argument register */
    mov $56, %eax          /* __NR_clone: flags, stack, parent_tid, child_tid, tls */
    syscall
    test %rax, %rax
    jnz 1f
    xor %ebp, %ebp         /* the child: nothing to unwind to */
    pop %rdi
    pop %rsi
    and $-16, %rsp
    call core_thread_main
    ud2
1:  ret
    .size core_clone_thread, .-core_clone_thread

    .section .note.GNU-stack,"",@progbits
