/*
 * Entry and exit trampolines of the native runner (see runner.c for the whole picture).
 *
 * xr_run_snippet() saves the host's callee-saved registers and RSP in globals, loads the
 * case's x87/SSE state (FXRSTOR64), RFLAGS (POPFQ on the host stack) and all 16 GPRs (RSP
 * last), and jumps to the snippet. Every instruction after the POPFQ is a MOV or a JMP, so no
 * flag is touched between the load and the snippet's first instruction.
 *
 * The runner appends `jmp *pad(%rip); .zero pad; .quad xr_snippet_exit` (the pointer 8-byte
 * aligned) to every snippet. xr_snippet_exit
 * stores the 16 GPRs with MOVs (no flags, no stack), switches to the host stack, and only
 * then takes RFLAGS (PUSHFQ) and FXSAVE64: the snippet's stack is never written.
 *
 * The signal handler in runner.c ends a faulting or timed-out snippet by rewriting the
 * ucontext so that sigreturn lands in xr_fault_resume on the host stack.
 *
 * Both ways out reset the FPU (FNINIT, MXCSR 0x1f80, VZEROUPPER), clear DF/AC/TF, and restore
 * the host's segment selectors and FS/GS bases before C code runs again.
 * Returns 0 after a normal exit, 1 after a fault or timeout.
 */

	.text

	.globl	xr_run_snippet
	.type	xr_run_snippet, @function
xr_run_snippet:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, xr_host_rsp(%rip)

	/* Same selectors for every case, whatever the previous snippet loaded. */
	mov	xr_host_ds(%rip), %ds
	mov	xr_host_es(%rip), %es

	/* FS and GS bases are 0 while a snippet runs (the emulator reproduces that). */
	cmpb	$0, xr_have_fsgsbase(%rip)
	je	1f
	xor	%eax, %eax
	wrfsbase %rax
	wrgsbase %rax
1:
	/* No stale upper YMM halves from a previous case: FXRSTOR only sets the low 128 bits. */
	cmpb	$0, xr_have_avx(%rip)
	je	2f
	vzeroupper
2:
	fxrstor64 xr_case_fxsave(%rip)
	pushq	xr_case_rflags(%rip)
	popfq
	movl	$1, xr_in_snippet(%rip)
	mov	xr_case_gpr+0(%rip), %rax
	mov	xr_case_gpr+8(%rip), %rcx
	mov	xr_case_gpr+16(%rip), %rdx
	mov	xr_case_gpr+24(%rip), %rbx
	mov	xr_case_gpr+40(%rip), %rbp
	mov	xr_case_gpr+48(%rip), %rsi
	mov	xr_case_gpr+56(%rip), %rdi
	mov	xr_case_gpr+64(%rip), %r8
	mov	xr_case_gpr+72(%rip), %r9
	mov	xr_case_gpr+80(%rip), %r10
	mov	xr_case_gpr+88(%rip), %r11
	mov	xr_case_gpr+96(%rip), %r12
	mov	xr_case_gpr+104(%rip), %r13
	mov	xr_case_gpr+112(%rip), %r14
	mov	xr_case_gpr+120(%rip), %r15
	mov	xr_case_gpr+32(%rip), %rsp
	jmp	*xr_code_entry(%rip)
	.size	xr_run_snippet, .-xr_run_snippet

	.globl	xr_snippet_exit
	.type	xr_snippet_exit, @function
xr_snippet_exit:
	movl	$0, xr_in_snippet(%rip)
	mov	%rax, xr_out_gpr+0(%rip)
	mov	%rcx, xr_out_gpr+8(%rip)
	mov	%rdx, xr_out_gpr+16(%rip)
	mov	%rbx, xr_out_gpr+24(%rip)
	mov	%rsp, xr_out_gpr+32(%rip)
	mov	%rbp, xr_out_gpr+40(%rip)
	mov	%rsi, xr_out_gpr+48(%rip)
	mov	%rdi, xr_out_gpr+56(%rip)
	mov	%r8, xr_out_gpr+64(%rip)
	mov	%r9, xr_out_gpr+72(%rip)
	mov	%r10, xr_out_gpr+80(%rip)
	mov	%r11, xr_out_gpr+88(%rip)
	mov	%r12, xr_out_gpr+96(%rip)
	mov	%r13, xr_out_gpr+104(%rip)
	mov	%r14, xr_out_gpr+112(%rip)
	mov	%r15, xr_out_gpr+120(%rip)
	mov	xr_host_rsp(%rip), %rsp
	pushfq
	popq	xr_out_rflags(%rip)
	fxsave64 xr_out_fxsave(%rip)
	xor	%eax, %eax
	jmp	xr_leave
	.globl	xr_snippet_exit_end
xr_snippet_exit_end:
	.size	xr_snippet_exit, .-xr_snippet_exit

	.globl	xr_fault_resume
	.type	xr_fault_resume, @function
xr_fault_resume:
	mov	xr_host_rsp(%rip), %rsp
	mov	$1, %eax
xr_leave:
	mov	%eax, %r12d
	pushq	$0x202
	popfq
	fninit
	ldmxcsr	xr_default_mxcsr(%rip)
	cmpb	$0, xr_have_avx(%rip)
	je	3f
	vzeroupper
3:
	mov	xr_host_ds(%rip), %ds
	mov	xr_host_es(%rip), %es
	mov	xr_host_fs(%rip), %fs
	mov	xr_host_gs(%rip), %gs
	cmpb	$0, xr_have_fsgsbase(%rip)
	je	4f
	mov	xr_host_fsbase(%rip), %rax
	wrfsbase %rax
	mov	xr_host_gsbase(%rip), %rax
	wrgsbase %rax
	jmp	5f
4:
	/* No FSGSBASE: arch_prctl(ARCH_SET_FS / ARCH_SET_GS, base). */
	mov	$158, %eax
	mov	$0x1002, %edi
	mov	xr_host_fsbase(%rip), %rsi
	syscall
	mov	$158, %eax
	mov	$0x1001, %edi
	mov	xr_host_gsbase(%rip), %rsi
	syscall
5:
	mov	%r12d, %eax
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret
	.size	xr_fault_resume, .-xr_fault_resume

/*
 * SA_SIGINFO handler entry: a snippet may fault with AC set, so clear it before C code can
 * make an unaligned access, then tail-call the C handler (arguments untouched).
 */
	.globl	xr_signal_entry
	.type	xr_signal_entry, @function
xr_signal_entry:
	pushfq
	andq	$~0x40000, (%rsp)
	popfq
	jmp	xr_on_signal
	.size	xr_signal_entry, .-xr_signal_entry

	.section .note.GNU-stack,"",@progbits
