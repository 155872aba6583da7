/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces of the kmmio core, shared with its KUnit tests. */
#ifndef _ARCH_X86_MM_KMMIO_H
#define _ARCH_X86_MM_KMMIO_H

struct insn;
struct pt_regs;

/* What to do with an access the emulator does not handle. */
enum kmmio_fallback {
	KMMIO_FALLBACK_STEP,	/* make the page present and single-step */
	KMMIO_FALLBACK_REFUSE,	/* stop tracing the page instead */
	KMMIO_FALLBACK_STOP,	/* single-step with the other CPUs held */
};

#if IS_ENABLED(CONFIG_KUNIT)
extern int kmmio_fallback_policy;
int kmmio_emulate_insn(struct pt_regs *regs, struct insn *insn,
		       unsigned long fault);
void kmmio_test_pte_lock(void);
void kmmio_test_pte_unlock(void);
bool kmmio_test_self_nmi(void);
#endif

#endif /* _ARCH_X86_MM_KMMIO_H */
