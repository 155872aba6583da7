/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_KMMIO_H
#define _ASM_X86_KMMIO_H

#include <asm/pgtable_types.h>

/* The x86 part of an armed page's record, see <linux/kmmio.h>. */
struct arch_kmmio_page {
	pteval_t old_presence;	/* the PTE (or 2M PMD) before arming */
};

#endif /* _ASM_X86_KMMIO_H */
