/* ckpt_context_save(struct ckpt_cpu_context *ctx): setjmp for the checkpoint handler.
 * Returns 0 now; returns 1 when restore-run's core resumes the saved context in a restored
 * process (core_resume in restorer/core_entry.S). Only callee-saved registers, the stack
 * pointer and the return address are kept: the interrupted program's full register state
 * is in the signal frame and comes back with rt_sigreturn. */
    .text
    .globl ckpt_context_save
    .hidden ckpt_context_save
    .type ckpt_context_save,@function
ckpt_context_save:
    mov %rbx, 0(%rdi)
    mov %rbp, 8(%rdi)
    mov %r12, 16(%rdi)
    mov %r13, 24(%rdi)
    mov %r14, 32(%rdi)
    mov %r15, 40(%rdi)
    lea 8(%rsp), %rdx
    mov %rdx, 48(%rdi)
    mov (%rsp), %rdx
    mov %rdx, 56(%rdi)
    xor %eax, %eax
    ret
    .size ckpt_context_save, .-ckpt_context_save

    .section .note.GNU-stack,"",@progbits

/* ckpt_call_on_stack(void *stack_top, void (*fn)(void *), void *arg): runs fn(arg) on
 * another stack. The checkpoint writer runs on a stack in its scratch memory so that the
 * program's stack — which the image holds — does not change while it is being written. */
    .text
    .globl ckpt_call_on_stack
    .hidden ckpt_call_on_stack
    .type ckpt_call_on_stack,@function
ckpt_call_on_stack:
    push %rbp
    mov %rsp, %rbp
    mov %rdi, %rsp
    and $-16, %rsp
    mov %rdx, %rdi
    call *%rsi
    mov %rbp, %rsp
    pop %rbp
    ret
    .size ckpt_call_on_stack, .-ckpt_call_on_stack
    .section .note.GNU-stack,"",@progbits
