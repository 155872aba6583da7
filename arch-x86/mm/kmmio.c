// SPDX-License-Identifier: GPL-2.0
/*
 * kmmio on x86: trap and emulate the accesses to armed pages.
 *
 * The generic core (mm/kmmio.c) keeps the probes and the armed pages and
 * asks this file to arm and disarm them: their page table entries are
 * made not present and the TLBs of all CPUs are flushed, so every access
 * to them raises a page fault.  The page fault handler calls kmmio_handler(),
 * which decodes the faulting instruction with the kernel's instruction
 * decoder and emulates it: it performs exactly one access of the decoded
 * width through an alias mapping of the same memory with the same cache
 * mode, writes the result into the register as the CPU would have, moves
 * the instruction pointer on and reports the access to the probe.  The
 * traced page never becomes present, so every CPU keeps trapping and no
 * access by an emulated instruction is missed, with all CPUs online.
 *
 * Instructions the emulator does not handle (SSE, SHLD, MUL, ...) fall back,
 * counted and reported: they are single-stepped with the register that
 * addresses their operand moved onto the alias, so the page stays armed
 * and the other CPUs keep trapping (kmmio_rebase()).  Only what cannot be
 * moved so is single-stepped on the page made present, as this code
 * always did before it learnt to emulate; the other CPUs' accesses to that
 * page meanwhile are not seen, and the "fallback" parameter can refuse
 * that, or hold the other CPUs for the duration of the step.
 *
 * Based on kprobes:
 * (C) 2002 Louis Zhuang <louis.zhuang@intel.com>.
 *     2007 Alexander Eichner
 *     2008 Pekka Paalanen <pq@iki.fi>
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/spinlock.h>
#include <linux/hash.h>
#include <linux/export.h>
#include <linux/kernel.h>
#include <linux/uaccess.h>
#include <linux/ptrace.h>
#include <linux/preempt.h>
#include <linux/percpu.h>
#include <linux/kdebug.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/irq_work.h>
#include <linux/moduleparam.h>
#include <linux/sched/clock.h>
#include <linux/string.h>
#include <linux/swab.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <kunit/visibility.h>
#include <asm/asm.h>
#include <asm/cacheflush.h>
#include <asm/tlbflush.h>
#include <linux/errno.h>
#include <linux/nmi.h>
#include <asm/nmi.h>
#include <asm/debugreg.h>
#include <asm/insn.h>
#include <asm/insn-eval.h>
#include <asm/trap_pf.h>
#include <asm/apic.h>
#include <linux/kmmio.h>
#include <linux/mmiotrace.h>

#include "kmmio.h"

/* The single-step fallback in flight on a CPU, from #PF until #DB. */
struct kmmio_context {
	struct kmmio_fault_page *fpage;
	unsigned long saved_flags;
	unsigned long addr;	/* the page made present; 0 on the alias */
	int active;
	bool rebased;		/* the step is on the alias: kmmio_rebase() */
	bool stopped;		/* the other CPUs are held: "stop" policy */
	bool all_held;		/* ... all of them arrived in time */
	u32 saved_tpr;		/* the APIC task priority before the step */
	int moved_off;		/* rebased: the pt_regs offset of the register */
	unsigned long delta;	/* ... that was moved by delta */
	unsigned long moved;	/* ... to this value */
};

VISIBLE_IF_KUNIT int kmmio_fallback_policy = KMMIO_FALLBACK_STEP;
EXPORT_SYMBOL_IF_KUNIT(kmmio_fallback_policy);

static const char * const kmmio_fallback_names[] = {
	[KMMIO_FALLBACK_STEP] = "step",
	[KMMIO_FALLBACK_REFUSE] = "refuse",
	[KMMIO_FALLBACK_STOP] = "stop",
};

static int kmmio_fallback_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(kmmio_fallback_names, val);

	if (i < 0) {
		pr_err("fallback: expected \"step\", \"refuse\" or \"stop\"\n");
		return -EINVAL;
	}
	WRITE_ONCE(kmmio_fallback_policy, i);
	return 0;
}

static int kmmio_fallback_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  kmmio_fallback_names[READ_ONCE(kmmio_fallback_policy)]);
}

static const struct kernel_param_ops kmmio_fallback_ops = {
	.set = kmmio_fallback_set,
	.get = kmmio_fallback_get,
};

module_param_cb(fallback, &kmmio_fallback_ops, NULL, 0644);
MODULE_PARM_DESC(fallback,
		 "Accesses the emulator cannot handle and cannot single-step on the alias: step (single-step them on the page, other CPUs' accesses to it meanwhile are not seen), refuse (stop tracing the page) or stop (single-step them with the other CPUs held)");

/*
 * Locking, beside the generic core's (mm/kmmio.c):
 * - kmmio_pte_lock is also taken here: the single-step fallback makes a
 *   page present and re-arms it from the #DB handler.  It is taken in #DB
 *   context, which lockdep treats as NMI: it is hidden from lockdep, and
 *   nothing is ever taken under it.
 * - The "stop" policy's kmmio_stop_owner is taken before kmmio_pte_lock,
 *   and the other CPUs are rounded up with kmmio_pte_lock held: none of
 *   them is held while it owns the lock.
 */
static DEFINE_PER_CPU(struct kmmio_context, kmmio_ctx);

static void kmmio_flush_workfn(struct work_struct *work)
{
	flush_tlb_all();
}

static DECLARE_WORK(kmmio_flush_work, kmmio_flush_workfn);

static void kmmio_flush_irq_workfn(struct irq_work *work)
{
	schedule_work(&kmmio_flush_work);
}

static DEFINE_IRQ_WORK(kmmio_flush_irq_work, kmmio_flush_irq_workfn);

phys_addr_t arch_kmmio_phys(const struct kmmio_fault_page *f,
			    unsigned long addr)
{
	pteval_t v = f->arch.old_presence;

	if (f->size == PMD_SIZE)
		return ((phys_addr_t)pmd_pfn(__pmd(v)) << PAGE_SHIFT) +
		       (addr & ~PMD_MASK);
	return ((phys_addr_t)pte_pfn(__pte(v)) << PAGE_SHIFT) +
	       (addr & ~PAGE_MASK);
}

int arch_kmmio_lookup(unsigned long addr, unsigned long *size, bool *present)
{
	unsigned int level;
	pte_t *pte = lookup_address(addr, &level);

	if (!pte)
		return -EINVAL;
	*size = page_level_size(level);
	*present = pte_present(*pte);
	return 0;
}

void arch_kmmio_init_page(struct kmmio_fault_page *f)
{
	unsigned int level;

	f->arch.old_presence = pte_val(*lookup_address(f->addr, &level));
}

void arch_kmmio_set_presence(struct kmmio_fault_page *f, bool present)
{
	unsigned int l;
	pte_t *pte = lookup_address(f->addr, &l);

	if (l == PG_LEVEL_2M) {
		pmd_t *pmd = (pmd_t *)pte;

		set_pmd(pmd, present ? __pmd(f->arch.old_presence) :
				       pmd_mkinvalid(*pmd));
	} else if (present) {
		set_pte_atomic(pte, __pte(f->arch.old_presence));
	} else {
		pte_clear(&init_mm, 0, pte);
	}
	f->armed = !present;
}

/* A 2M page is mapped into the alias with 4K pages. */
int arch_kmmio_map_alias(const struct kmmio_fault_page *f, unsigned long page,
			 unsigned long size, unsigned long va)
{
	unsigned int level;
	pteval_t v = f ? f->arch.old_presence :
			 pte_val(*lookup_address(page, &level));
	phys_addr_t phys;
	pgprot_t prot;

	if (size == PMD_SIZE) {
		phys = (phys_addr_t)pmd_pfn(__pmd(v)) << PAGE_SHIFT;
		prot = pgprot_large_2_4k(pmd_pgprot(__pmd(v)));
		pgprot_val(prot) &= ~_PAGE_PSE;
	} else {
		phys = (phys_addr_t)pte_pfn(__pte(v)) << PAGE_SHIFT;
		prot = pte_pgprot(__pte(v));
	}
	return vmap_page_range(va, va + size, phys, prot);
}

/* One access of @size bytes through the alias, as the instruction does. */
static unsigned long kmmio_alias_read(const void *a, int size)
{
	const void __iomem *io = (__force const void __iomem *)a;

	switch (size) {
	case 1:
		return __raw_readb(io);
	case 2:
		return __raw_readw(io);
	case 4:
		return __raw_readl(io);
#ifdef CONFIG_64BIT
	case 8:
		return __raw_readq(io);
#endif
	}
	return 0;
}

static void kmmio_alias_write(void *a, int size, unsigned long v)
{
	void __iomem *io = (__force void __iomem *)a;

	switch (size) {
	case 1:
		__raw_writeb(v, io);
		break;
	case 2:
		__raw_writew(v, io);
		break;
	case 4:
		__raw_writel(v, io);
		break;
#ifdef CONFIG_64BIT
	case 8:
		__raw_writeq(v, io);
		break;
#endif
	}
}

/* Where an operand of the instruction being emulated lives. */
struct kmmio_operand {
	unsigned long addr;		/* its virtual address */
	void *alias;			/* NULL: not on an armed page */
	struct kmmio_fault_page *f;	/* the armed page of addr */
	struct page *upage;		/* a user destination, pinned */
};

/*
 * Resolve the memory operand [@addr, @addr + @size).  On an armed page,
 * the access goes through the alias of a probe that covers all of it.
 * Returns false if the operand cannot be accessed by the emulator: it
 * straddles an armed page and memory no probe covers.
 */
static bool kmmio_resolve(struct kmmio_operand *op, unsigned long addr,
			  int size)
{
	struct kmmio_fault_page *first = get_kmmio_fault_page(addr);
	struct kmmio_fault_page *last = first;
	struct kmmio_probe *p;

	if ((addr ^ (addr + size - 1)) & PAGE_MASK)
		last = get_kmmio_fault_page(addr + size - 1);

	op->addr = addr;
	op->alias = NULL;
	op->upage = NULL;
	op->f = first ?: last;
	if (!op->f)
		return true;
	p = get_kmmio_alias(addr, size, get_kmmio_probe(addr));
	if (!p)
		return false;
	op->alias = p->alias->addr + (addr - p->page_start);
	return true;
}

/* Was the armed page @f writable before it was armed? */
static bool kmmio_was_writable(const struct kmmio_fault_page *f)
{
	return f->arch.old_presence & _PAGE_RW;
}

/* Was the armed page of @addr, if any, writable before it was armed? */
static bool kmmio_writable(unsigned long addr)
{
	struct kmmio_fault_page *f = get_kmmio_fault_page(addr);

	return !f || kmmio_was_writable(f);
}

/*
 * The locks of the emulated writes.  Every CPU's access to a traced page
 * faults and is emulated, so the emulator can make a locked
 * read-modify-write (LOCK, XCHG) atomic against the other CPUs as the
 * CPU's own is: an emulated instruction that writes a traced page holds
 * the lock of the page from before its first access to the device until
 * after its write.  Reads take none: a read that comes between the read
 * and the write of a read-modify-write returns the value from before it,
 * as if it came before.  Hashed by physical page, so that two mappings
 * of a page share a lock; an access across two pages takes both, in
 * order.  Nothing is taken under them, and nothing is reported while
 * they are held.  An NMI may not wait for a lock that the code it
 * interrupted holds: there the emulator only tries, and falls back.
 */
#define KMMIO_WLOCK_BITS	6

static arch_spinlock_t kmmio_wlocks[1 << KMMIO_WLOCK_BITS] = {
	[0 ... (1 << KMMIO_WLOCK_BITS) - 1] = __ARCH_SPIN_LOCK_UNLOCKED,
};

static unsigned int kmmio_wlock_idx(unsigned long addr)
{
	struct kmmio_fault_page *f = get_kmmio_fault_page(addr);
	u64 pfn = (f ? arch_kmmio_phys(f, addr) : addr) >> PAGE_SHIFT;

	return hash_64(pfn, KMMIO_WLOCK_BITS);
}

/*
 * Take the write locks of the @size bytes at @op->addr, an armed page.
 * Return: false in NMI context if one is held.
 */
static bool kmmio_wlock(const struct kmmio_operand *op, int size,
			unsigned int idx[2])
{
	idx[0] = kmmio_wlock_idx(op->addr);
	idx[1] = kmmio_wlock_idx(op->addr + size - 1);
	if (idx[0] > idx[1])
		swap(idx[0], idx[1]);
	if (!in_nmi()) {
		arch_spin_lock(&kmmio_wlocks[idx[0]]);
		if (idx[1] != idx[0])
			arch_spin_lock(&kmmio_wlocks[idx[1]]);
		return true;
	}
	if (!arch_spin_trylock(&kmmio_wlocks[idx[0]]))
		return false;
	if (idx[1] != idx[0] && !arch_spin_trylock(&kmmio_wlocks[idx[1]])) {
		arch_spin_unlock(&kmmio_wlocks[idx[0]]);
		return false;
	}
	return true;
}

static void kmmio_wunlock(const unsigned int idx[2])
{
	if (idx[1] != idx[0])
		arch_spin_unlock(&kmmio_wlocks[idx[1]]);
	arch_spin_unlock(&kmmio_wlocks[idx[0]]);
}

/*
 * Make sure that the store to @op, of @size bytes, can be done, before
 * the instruction's device access: a read of a device register may have
 * side effects (a FIFO pop, clear-on-read bits), and if the emulator
 * read, then failed to store, the CPU would read again.  Traced pages
 * must have been writable; other kernel memory must be mapped writable;
 * a user page (copy_to_user() from MMIO) is pinned for the store, which
 * goes through the user-access primitives.  Only a page unmapped by
 * another CPU between this check and the store (a use after free) can
 * still make the store fail.
 *
 * Return: 0, or -EFAULT: leave the instruction to the CPU.
 */
static int kmmio_prepare_write(struct kmmio_operand *op, int size)
{
	unsigned long addr = op->addr, last = addr + size - 1;
	unsigned int level;
	pte_t *pte;

	if (op->alias)
		return kmmio_writable(addr) && kmmio_writable(last) ? 0 : -EFAULT;
	/* A store across two pages: the CPU knows best. */
	if ((addr ^ last) & PAGE_MASK)
		return -EFAULT;
	if (addr < TASK_SIZE_MAX) {
		if (in_nmi() || !current->mm ||
		    !get_user_page_fast_only(addr, FOLL_WRITE, &op->upage))
			return -EFAULT;
		return 0;
	}
	pte = lookup_address(addr, &level);
	if (!pte || !pte_present(*pte) || !pte_write(*pte))
		return -EFAULT;
	return 0;
}

static void kmmio_operand_release(struct kmmio_operand *op)
{
	if (op->upage) {
		put_page(op->upage);
		op->upage = NULL;
	}
}

static int kmmio_operand_read(struct kmmio_operand *op, int size,
			      unsigned long *val)
{
	*val = 0;
	if (op->alias) {
		*val = kmmio_alias_read(op->alias, size);
		return 0;
	}
	if (op->addr < TASK_SIZE_MAX)
		return copy_from_user_nofault(val, (void __user *)op->addr,
					      size);
	return copy_from_kernel_nofault(val, (void *)op->addr, size);
}

/* After kmmio_prepare_write(). */
static int kmmio_operand_write(struct kmmio_operand *op, int size,
			       unsigned long val)
{
	int ret;

	if (op->alias) {
		kmmio_alias_write(op->alias, size, val);
		return 0;
	}
	if (op->upage) {
		ret = copy_to_user_nofault((void __user *)op->addr, &val, size);
		kmmio_operand_release(op);
		return ret;
	}
	return copy_to_kernel_nofault((void *)op->addr, &val, size);
}

/* Account and report an access done through the alias. */
static void kmmio_done(struct pt_regs *regs, struct kmmio_operand *op,
		       unsigned char opcode, int size, unsigned long val,
		       u64 time)
{
	if (!op->alias)
		return;
	this_cpu_inc(kmmio_stats.emulated);
	kmmio_report(regs, op->f, op->addr, opcode, size, val, time);
}

/*
 * The general-purpose register in the ModRM reg field, as a pointer for
 * insn_assign_reg(): without a REX prefix, byte registers 4-7 are AH, CH,
 * DH and BH, the second byte of registers 0-3.
 */
static unsigned long *kmmio_modrm_reg(struct insn *insn, struct pt_regs *regs,
				      int size)
{
	int reg = X86_MODRM_REG(insn->modrm.bytes[0]);

	if (size == 1 && !insn->rex_prefix.nbytes && reg >= 4)
		return (void *)regs + pt_regs_offset(regs, reg - 4) + 1;
	return insn_get_modrm_reg_ptr(insn, regs);
}

static unsigned long kmmio_trunc(unsigned long v, int size)
{
	return size < sizeof(long) ? v & (BIT_ULL(size * 8) - 1) : v;
}

/* The @size bytes of @v in reverse order, as MOVBE moves them. */
static unsigned long kmmio_swab(unsigned long v, int size)
{
	switch (size) {
	case 2:
		return swab16(v);
	case 4:
		return swab32(v);
	}
	return swab64(v);
}

/* The instruction forms the emulator handles. */
enum kmmio_form {
	KMMIO_NONE,
	KMMIO_READ,		/* MOV reg, mem: size bytes into the register */
	KMMIO_READ_ZX,		/* MOVZX: zero-extended to the operand size */
	KMMIO_READ_SX,		/* MOVSX, MOVSXD: sign-extended */
	KMMIO_WRITE,		/* MOV mem, reg */
	KMMIO_WRITE_IMM,	/* MOV mem, imm (REX.W: imm32 sign-extended) */
	KMMIO_READ_MOFFS,	/* MOV AL/AX/EAX/RAX, moffs */
	KMMIO_WRITE_MOFFS,	/* MOV moffs, AL/AX/EAX/RAX */
	KMMIO_READ_SWAP,	/* MOVBE reg, mem: the bytes reversed */
	KMMIO_WRITE_SWAP,	/* MOVBE mem, reg: the bytes reversed */
	KMMIO_MOVS,		/* MOVS, also with REP */
	KMMIO_STOS,		/* STOS, also with REP */
	KMMIO_LODS,		/* LODS, also with REP */
};

static const enum kmmio_form kmmio_forms[] = {
	[INSN_MMIO_READ] = KMMIO_READ,
	[INSN_MMIO_READ_ZERO_EXTEND] = KMMIO_READ_ZX,
	[INSN_MMIO_READ_SIGN_EXTEND] = KMMIO_READ_SX,
	[INSN_MMIO_WRITE] = KMMIO_WRITE,
	[INSN_MMIO_WRITE_IMM] = KMMIO_WRITE_IMM,
	[INSN_MMIO_READ_MOFFS] = KMMIO_READ_MOFFS,
	[INSN_MMIO_WRITE_MOFFS] = KMMIO_WRITE_MOFFS,
	[INSN_MMIO_READ_SWAP] = KMMIO_READ_SWAP,
	[INSN_MMIO_WRITE_SWAP] = KMMIO_WRITE_SWAP,
	[INSN_MMIO_MOVS] = KMMIO_MOVS,
	[INSN_MMIO_STOS] = KMMIO_STOS,
	[INSN_MMIO_LODS] = KMMIO_LODS,
};

/* The moves, by the decoders TDX and SEV-ES share. */
static enum kmmio_form kmmio_decode(struct insn *insn, int *size)
{
	enum insn_mmio_type type = insn_decode_mmio(insn, size);

	if (type == INSN_MMIO_DECODE_FAILED)
		type = insn_decode_mmio_more(insn, size);
	if (type >= ARRAY_SIZE(kmmio_forms))
		return KMMIO_NONE;
	return kmmio_forms[type];
}

/*
 * An FS or GS segment override: the operand is not at the address in the
 * register (the other segments have base 0 in 64-bit mode).
 */
static bool kmmio_seg_override(struct insn *insn)
{
	insn_byte_t prefix;

	for_each_insn_prefix(insn, prefix) {
		if (prefix == 0x64 || prefix == 0x65)
			return true;
	}
	return !IS_ENABLED(CONFIG_64BIT);
}

/*
 * One iteration of MOVS, STOS or LODS.  With REP, the instruction pointer stays
 * on the instruction until the count runs out.
 */
static int kmmio_string_element(struct pt_regs *regs, struct insn *insn,
				enum kmmio_form form, int size)
{
	struct kmmio_operand src = {}, dst;
	unsigned long val, step;
	bool rep = insn_has_rep_prefix(insn);
	unsigned int idx[2];
	u64 t_src = 0, t_dst;
	int ret;

	/* 32-bit addressing or a segment override: leave it to the CPU. */
	if (insn->addr_bytes != sizeof(long) || kmmio_seg_override(insn))
		return -EINVAL;
	if (rep && !regs->cx)
		goto done;

	if (form == KMMIO_LODS) {
		if (!kmmio_resolve(&src, regs->si, size))
			return -EINVAL;
		if (!src.alias)
			return -EAGAIN;
		val = kmmio_alias_read(src.alias, size);
		kmmio_done(regs, &src, MMIO_READ, size, val, local_clock());
		insn_assign_reg(&regs->ax, val, size);
		goto next;
	}

	if (!kmmio_resolve(&dst, regs->di, size))
		return -EINVAL;
	if (form == KMMIO_MOVS) {
		if (!kmmio_resolve(&src, regs->si, size))
			return -EINVAL;
		if (!src.alias && !dst.alias)
			return -EAGAIN;
	} else if (!dst.alias) {
		return -EAGAIN;
	}
	/* Before the source is read: the read must not be repeated. */
	if (kmmio_prepare_write(&dst, size))
		return -EFAULT;
	if (dst.alias && !kmmio_wlock(&dst, size, idx))
		return -EBUSY;
	if (form == KMMIO_MOVS) {
		/* Memory, or a device that the store then writes. */
		if (kmmio_operand_read(&src, size, &val)) {
			if (dst.alias)
				kmmio_wunlock(idx);
			kmmio_operand_release(&dst);
			return -EFAULT;
		}
		t_src = local_clock();
	} else {
		val = kmmio_trunc(regs->ax, size);
	}
	ret = kmmio_operand_write(&dst, size, val);
	t_dst = local_clock();
	if (dst.alias)
		kmmio_wunlock(idx);
	if (form == KMMIO_MOVS)
		kmmio_done(regs, &src, MMIO_READ, size, val, t_src);
	if (ret)
		return -EFAULT;
	kmmio_done(regs, &dst, MMIO_WRITE, size, val, t_dst);

next:
	step = regs->flags & X86_EFLAGS_DF ? -size : size;
	if (form != KMMIO_LODS)
		regs->di += step;
	if (form != KMMIO_STOS)
		regs->si += step;
	if (rep && --regs->cx)
		return 0;
done:
	regs->ip += insn->length;
	return 0;
}

/*
 * The iterations of a REP string instruction emulated per fault, at most:
 * each is a device access with interrupts off, where the CPU would take
 * an interrupt between two iterations.
 */
#define KMMIO_STRING_BATCH	64

/*
 * MOVS, STOS or LODS: with REP, up to KMMIO_STRING_BATCH iterations, as
 * long as each touches an armed page, each reported in order.  The CPU
 * executes the iterations that touch no armed page itself (the first
 * one ends the batch) and faults again on the next one that does.
 */
static int kmmio_emulate_string(struct pt_regs *regs, struct insn *insn,
				enum kmmio_form form, int size)
{
	unsigned long ip = regs->ip;
	int n, ret;

	for (n = 0; n < KMMIO_STRING_BATCH; n++) {
		ret = kmmio_string_element(regs, insn, form, size);
		/* After some iterations, the CPU takes over where they end. */
		if (ret)
			return n ? 0 : ret;
		/* Done: no REP, or the count ran out. */
		if (regs->ip != ip)
			break;
	}
	return 0;
}

/*
 * The linear address of the one memory operand of @insn, which faulted at
 * @fault.  That is the fault address itself, unless the fault address
 * begins a page: the operand may then begin on the page before, present.
 * Only there, or when the fault address is not known (0), evaluate the
 * addressing of the instruction, which costs more than the rest of the
 * emulation.
 */
static unsigned long kmmio_operand_addr(struct insn *insn,
					struct pt_regs *regs,
					unsigned long fault)
{
	if (offset_in_page(fault))
		return fault;
	return (unsigned long)insn_get_addr_ref(insn, regs);
}

/* The flags an ALU operation sets; the rest of RFLAGS is not its. */
#define KMMIO_ARITH_FLAGS	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
				 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

/*
 * Run @insn with the arithmetic flags of @fl loaded before it and stored
 * in @fl after it, so that the CPU computes the result and the flags
 * itself, the undefined ones included, as KVM's fastop does.  @fl holds
 * the rest of the current RFLAGS (IF, AC, DF), so popf changes nothing
 * else.  The operands are the outputs, [fl] among them.
 */
#define KMMIO_FLAGS_ASM(insn, ...)					\
	asm("push %[fl]\n\tpopf\n\t" insn "\n\tpushf\n\tpop %[fl]"	\
	    : __VA_ARGS__)

/*
 * kmmio_alu_<op>_wide(): "<op> *@s, @d" of 2, 4 or sizeof(long) bytes on
 * registers, with the flags *@f (see KMMIO_FLAGS_ASM()); XADD also
 * updates *@s.  The bit instructions, which have no byte form, use it
 * directly; kmmio_alu_<op>() adds the byte form.
 */
#define KMMIO_ALU2_WIDE(op)						\
static unsigned long kmmio_alu_##op##_wide(unsigned long d,		\
					   unsigned long *s, int size,	\
					   unsigned long *f)		\
{									\
	unsigned long src = *s, fl = *f;				\
									\
	switch (size) {							\
	case 2:								\
		KMMIO_FLAGS_ASM(#op "w %w[src], %w[dst]", [dst] "+r" (d),\
				[src] "+r" (src), [fl] "+r" (fl));	\
		break;							\
	case 4:								\
		KMMIO_FLAGS_ASM(#op "l %k[src], %k[dst]", [dst] "+r" (d),\
				[src] "+r" (src), [fl] "+r" (fl));	\
		break;							\
	default:	/* long: 8 bytes, or 4 on 32-bit */		\
		KMMIO_FLAGS_ASM(__ASM_SIZE(op) "%[src], %[dst]",	\
				[dst] "+r" (d), [src] "+r" (src),	\
				[fl] "+r" (fl));			\
		break;							\
	}								\
	*s = src;							\
	*f = fl;							\
	return d;							\
}

#define KMMIO_ALU2(op)							\
KMMIO_ALU2_WIDE(op)							\
static unsigned long kmmio_alu_##op(unsigned long d, unsigned long *s,	\
				    int size, unsigned long *f)		\
{									\
	unsigned long src = *s, fl = *f;				\
									\
	if (size != 1)							\
		return kmmio_alu_##op##_wide(d, s, size, f);		\
	KMMIO_FLAGS_ASM(#op "b %b[src], %b[dst]", [dst] "+q" (d),	\
			[src] "+q" (src), [fl] "+r" (fl));		\
	*s = src;							\
	*f = fl;							\
	return d;							\
}

/*
 * kmmio_alu_<op>(): an operation on @d alone, of 1, 2, 4 or sizeof(long)
 * bytes, with the flags *@f (see KMMIO_FLAGS_ASM()): "<op> @d" with @src
 * none (INC, DEC, NOT, NEG), "<op> %cl, @d" with @src cl (the shift
 * group), the count in the low byte of *@s, which the others ignore.  The
 * shifts by one and by an immediate are done by CL: the CPU masks the
 * count the same way, leaves the flags alone for a count of 0, and
 * defines OF alike for a count of 1.
 */
#define KMMIO_ALU_DST(op, src)						\
static unsigned long kmmio_alu_##op(unsigned long d, unsigned long *s,	\
				    int size, unsigned long *f)		\
{									\
	unsigned long fl = *f;						\
	u8 cnt = *s;							\
									\
	switch (size) {							\
	case 1:								\
		KMMIO_FLAGS_ASM(#op "b " KMMIO_SRC_##src "%b[dst]", [dst] "+q" (d),	\
				[fl] "+r" (fl), "+c" (cnt));		\
		break;							\
	case 2:								\
		KMMIO_FLAGS_ASM(#op "w " KMMIO_SRC_##src "%w[dst]", [dst] "+r" (d),	\
				[fl] "+r" (fl), "+c" (cnt));		\
		break;							\
	case 4:								\
		KMMIO_FLAGS_ASM(#op "l " KMMIO_SRC_##src "%k[dst]", [dst] "+r" (d),	\
				[fl] "+r" (fl), "+c" (cnt));		\
		break;							\
	default:	/* long: 8 bytes, or 4 on 32-bit */		\
		KMMIO_FLAGS_ASM(__ASM_SIZE(op) KMMIO_SRC_##src "%[dst]",	\
				[dst] "+r" (d), [fl] "+r" (fl),		\
				"+c" (cnt));				\
		break;							\
	}								\
	*f = fl;							\
	return d;							\
}

#define KMMIO_SRC_none		""
#define KMMIO_SRC_cl		"%%cl, "
#define KMMIO_ALU1(op)		KMMIO_ALU_DST(op, none)
#define KMMIO_SHIFT(op)		KMMIO_ALU_DST(op, cl)

KMMIO_ALU2(add)
KMMIO_ALU2(or)
KMMIO_ALU2(adc)
KMMIO_ALU2(sbb)
KMMIO_ALU2(and)
KMMIO_ALU2(sub)
KMMIO_ALU2(xor)
KMMIO_ALU2(cmp)
KMMIO_ALU2(test)
KMMIO_ALU2(xadd)
KMMIO_ALU1(inc)
KMMIO_ALU1(dec)
KMMIO_ALU1(not)
KMMIO_ALU1(neg)
KMMIO_ALU2_WIDE(bt)
KMMIO_ALU2_WIDE(bts)
KMMIO_ALU2_WIDE(btr)
KMMIO_ALU2_WIDE(btc)
KMMIO_SHIFT(rol)
KMMIO_SHIFT(ror)
KMMIO_SHIFT(rcl)
KMMIO_SHIFT(rcr)
KMMIO_SHIFT(shl)
KMMIO_SHIFT(shr)
KMMIO_SHIFT(sar)

/* CMPXCHG compares with, and on a mismatch loads, the accumulator *@a. */
static unsigned long kmmio_alu_cmpxchg(unsigned long d, unsigned long s,
				       unsigned long *a, int size,
				       unsigned long *f)
{
	unsigned long ax = *a, fl = *f;

	switch (size) {
	case 1:
		KMMIO_FLAGS_ASM("cmpxchgb %b[src], %b[dst]", [dst] "+q" (d),
				[src] "+q" (s), [fl] "+r" (fl), "+a" (ax));
		break;
	case 2:
		KMMIO_FLAGS_ASM("cmpxchgw %w[src], %w[dst]", [dst] "+r" (d),
				[src] "+r" (s), [fl] "+r" (fl), "+a" (ax));
		break;
	case 4:
		KMMIO_FLAGS_ASM("cmpxchgl %k[src], %k[dst]", [dst] "+r" (d),
				[src] "+r" (s), [fl] "+r" (fl), "+a" (ax));
		break;
#ifdef CONFIG_X86_64
	case 8:
		KMMIO_FLAGS_ASM("cmpxchgq %q[src], %q[dst]", [dst] "+r" (d),
				[src] "+r" (s), [fl] "+r" (fl), "+a" (ax));
		break;
#endif
	}
	*a = ax;
	*f = fl;
	return d;
}

/*
 * The operation of a read-modify-write on its first operand @d (memory,
 * or the register of the to_reg forms) and its second operand *@s, with
 * the accumulator *@ax (CMPXCHG) and RFLAGS *@flags, all updated as the
 * instruction would.  Returns the value the first operand receives.  The
 * bit instructions take *@s as the bit number within @d.
 */
static unsigned long kmmio_alu(enum insn_mmio_alu op, int size,
			       unsigned long d, unsigned long *s,
			       unsigned long *ax, unsigned long *flags)
{
	static unsigned long (* const fn[])(unsigned long d, unsigned long *s,
					    int size, unsigned long *f) = {
		[INSN_MMIO_ALU_ADD] = kmmio_alu_add,
		[INSN_MMIO_ALU_OR] = kmmio_alu_or,
		[INSN_MMIO_ALU_ADC] = kmmio_alu_adc,
		[INSN_MMIO_ALU_SBB] = kmmio_alu_sbb,
		[INSN_MMIO_ALU_AND] = kmmio_alu_and,
		[INSN_MMIO_ALU_SUB] = kmmio_alu_sub,
		[INSN_MMIO_ALU_XOR] = kmmio_alu_xor,
		[INSN_MMIO_ALU_CMP] = kmmio_alu_cmp,
		[INSN_MMIO_ALU_TEST] = kmmio_alu_test,
		[INSN_MMIO_ALU_INC] = kmmio_alu_inc,
		[INSN_MMIO_ALU_DEC] = kmmio_alu_dec,
		[INSN_MMIO_ALU_NOT] = kmmio_alu_not,
		[INSN_MMIO_ALU_NEG] = kmmio_alu_neg,
		[INSN_MMIO_ALU_XADD] = kmmio_alu_xadd,
		[INSN_MMIO_ALU_BT] = kmmio_alu_bt_wide,
		[INSN_MMIO_ALU_BTS] = kmmio_alu_bts_wide,
		[INSN_MMIO_ALU_BTR] = kmmio_alu_btr_wide,
		[INSN_MMIO_ALU_BTC] = kmmio_alu_btc_wide,
		[INSN_MMIO_ALU_ROL] = kmmio_alu_rol,
		[INSN_MMIO_ALU_ROR] = kmmio_alu_ror,
		[INSN_MMIO_ALU_RCL] = kmmio_alu_rcl,
		[INSN_MMIO_ALU_RCR] = kmmio_alu_rcr,
		[INSN_MMIO_ALU_SHL] = kmmio_alu_shl,
		[INSN_MMIO_ALU_SHR] = kmmio_alu_shr,
		[INSN_MMIO_ALU_SAR] = kmmio_alu_sar,
	};
	unsigned long f;

	f = (native_save_fl() & ~KMMIO_ARITH_FLAGS) |
	    (*flags & KMMIO_ARITH_FLAGS);
	switch (op) {
	case INSN_MMIO_ALU_CMPXCHG:
		d = kmmio_alu_cmpxchg(d, *s, ax, size, &f);
		break;
	case INSN_MMIO_ALU_XCHG:
		/* No flags. */
		swap(d, *s);
		return d;
	default:
		d = fn[op](d, s, size, &f);
		break;
	}
	*flags = (*flags & ~KMMIO_ARITH_FLAGS) | (f & KMMIO_ARITH_FLAGS);
	return d;
}

static bool kmmio_is_bt(enum insn_mmio_alu op)
{
	return op >= INSN_MMIO_ALU_BT && op <= INSN_MMIO_ALU_BTC;
}

/*
 * A read-modify-write: one read of the device, the operation, and one
 * write of the result (none for CMP, TEST, BT and the forms whose result
 * goes to a register), each reported, R then W, as the device sees them.
 * RFLAGS are left as the instruction leaves them.  The write lock held
 * from the read to the write makes it atomic against the other CPUs, as
 * LOCK and XCHG must be.
 */
static int kmmio_emulate_rmw(struct pt_regs *regs, struct insn *insn,
			     const struct insn_mmio_rmw *rmw,
			     unsigned long fault)
{
	unsigned long addr, old, new, src = 0, ax = regs->ax;
	unsigned long flags = regs->flags, *reg = NULL;
	int size = rmw->bytes, bits = size * 8;
	struct kmmio_operand op;
	unsigned int idx[2];
	u64 t_read, t_write = 0;

	if (size < 1 || size > sizeof(long))
		return -EINVAL;

	if (rmw->src == INSN_MMIO_SRC_REG || rmw->to_reg) {
		reg = kmmio_modrm_reg(insn, regs, size);
		if (!reg)
			return -EINVAL;
	}
	if (rmw->src == INSN_MMIO_SRC_REG)
		memcpy(&src, reg, size);
	else if (rmw->src == INSN_MMIO_SRC_IMM)
		src = kmmio_trunc((long)insn->immediate.value, size);
	else if (rmw->src == INSN_MMIO_SRC_ONE)
		src = 1;
	else if (rmw->src == INSN_MMIO_SRC_CL)
		src = (u8)regs->cx;

	if (kmmio_is_bt(rmw->op) && rmw->src == INSN_MMIO_SRC_REG) {
		/*
		 * A register bit offset is signed and reaches beyond the
		 * operand: the CPU accesses the operand-sized word that
		 * holds the bit.
		 */
		long bit = sign_extend64(src, bits - 1);

		addr = (unsigned long)insn_get_addr_ref(insn, regs);
		if (addr == -1L)
			return -EINVAL;
		addr += (bit >> ilog2(bits)) * size;
		src = bit & (bits - 1);
	} else {
		addr = kmmio_operand_addr(insn, regs, fault);
		if (kmmio_is_bt(rmw->op))
			src &= bits - 1;
	}
	if (addr == -1L)
		return -EINVAL;

	if (!kmmio_resolve(&op, addr, size))
		return -EINVAL;
	if (!op.alias)
		return -EAGAIN;
	if (rmw->writes && !(kmmio_writable(addr) &&
			     kmmio_writable(addr + size - 1)))
		return -EFAULT;

	if (rmw->writes && !kmmio_wlock(&op, size, idx))
		return -EBUSY;
	old = kmmio_alias_read(op.alias, size);
	t_read = local_clock();

	if (rmw->to_reg) {
		/* "op r, m": the register is the first operand. */
		unsigned long d = 0;

		memcpy(&d, reg, size);
		src = old;
		new = kmmio_alu(rmw->op, size, d, &src, &ax, &flags);
	} else {
		new = kmmio_alu(rmw->op, size, old, &src, &ax, &flags);
	}
	if (rmw->writes) {
		kmmio_alias_write(op.alias, size, new);
		t_write = local_clock();
		kmmio_wunlock(idx);
	}
	kmmio_done(regs, &op, MMIO_READ, size, old, t_read);
	if (rmw->writes)
		kmmio_done(regs, &op, MMIO_WRITE, size, new, t_write);

	switch (rmw->op) {
	case INSN_MMIO_ALU_XADD:
	case INSN_MMIO_ALU_XCHG:
		/* The register receives the old value. */
		insn_assign_reg(reg, src, size);
		break;
	case INSN_MMIO_ALU_CMPXCHG:
		regs->ax = ax;
		break;
	case INSN_MMIO_ALU_CMP:
	case INSN_MMIO_ALU_TEST:
		break;
	default:
		if (rmw->to_reg)
			insn_assign_reg(reg, new, size);
		break;
	}
	regs->flags = flags;
	regs->ip += insn->length;
	return 0;
}

/**
 * kmmio_emulate_insn() - Emulate an instruction that accesses a traced page
 * @regs:	the register state at the instruction, updated as the CPU would
 * @insn:	the decoded instruction
 * @fault:	the address that faulted, 0 if not known
 *
 * Performs the instruction's memory access through the alias of the probe
 * that covers it, writes the result into the destination register,
 * reports the access with the instruction's address and advances
 * @regs->ip past it.  The MOV and string forms leave RFLAGS alone; the
 * read-modify-write forms set them as the instruction does.
 *
 * Context: IRQs off, RCU read lock held.
 * Return: 0 when emulated, -EAGAIN when the operand is not on an armed page
 * (any more): execute the instruction again; -EBUSY in NMI context when
 * the write lock of the page is held (see kmmio_wlock()); other errors
 * when the form or the operand cannot be emulated.
 */
VISIBLE_IF_KUNIT int kmmio_emulate_insn(struct pt_regs *regs, struct insn *insn,
					unsigned long fault)
{
	enum kmmio_form form;
	struct kmmio_operand op;
	unsigned long addr, val, *reg = NULL;
	unsigned int idx[2];
	bool write;
	int size;
	u64 time;

	lockdep_assert_irqs_disabled();

	form = kmmio_decode(insn, &size);
	switch (form) {
	case KMMIO_NONE: {
		struct insn_mmio_rmw rmw;

		if (insn_decode_mmio_rmw(insn, &rmw))
			return kmmio_emulate_rmw(regs, insn, &rmw, fault);
		return -EOPNOTSUPP;
	}
	case KMMIO_MOVS:
	case KMMIO_STOS:
	case KMMIO_LODS:
		return kmmio_emulate_string(regs, insn, form, size);
	case KMMIO_READ_MOFFS:
	case KMMIO_WRITE_MOFFS:
		if (insn->addr_bytes != sizeof(long) || kmmio_seg_override(insn))
			return -EINVAL;
		addr = (u32)insn->moffset1.value;
#ifdef CONFIG_64BIT
		addr |= (unsigned long)insn->moffset2.value << 32;
#endif
		reg = &regs->ax;
		break;
	case KMMIO_WRITE_IMM:
		addr = kmmio_operand_addr(insn, regs, fault);
		break;
	default:
		addr = kmmio_operand_addr(insn, regs, fault);
		/* The register of MOVZX and MOVSX is wider than the memory. */
		reg = kmmio_modrm_reg(insn, regs,
				      form == KMMIO_READ_ZX || form == KMMIO_READ_SX ?
				      insn->opnd_bytes : size);
		if (!reg)
			return -EINVAL;
		break;
	}
	if (addr == -1L || size < 1 || size > sizeof(long))
		return -EINVAL;

	if (!kmmio_resolve(&op, addr, size))
		return -EINVAL;
	if (!op.alias)
		return -EAGAIN;

	write = form == KMMIO_WRITE || form == KMMIO_WRITE_IMM ||
		form == KMMIO_WRITE_MOFFS || form == KMMIO_WRITE_SWAP;
	if (write) {
		if (form == KMMIO_WRITE_IMM) {
			val = kmmio_trunc((long)insn->immediate.value, size);
		} else {
			val = 0;
			memcpy(&val, reg, size);
			if (form == KMMIO_WRITE_SWAP)
				val = kmmio_swab(val, size);
		}
		if (!kmmio_wlock(&op, size, idx))
			return -EBUSY;
		kmmio_alias_write(op.alias, size, val);
		time = local_clock();
		kmmio_wunlock(idx);
	} else {
		val = kmmio_alias_read(op.alias, size);
		time = local_clock();
	}

	switch (form) {
	case KMMIO_READ:
	case KMMIO_READ_MOFFS:
		insn_assign_reg(reg, val, size);
		break;
	case KMMIO_READ_ZX:
		insn_assign_reg(reg, val, insn->opnd_bytes);
		break;
	case KMMIO_READ_SX:
		insn_assign_reg(reg, sign_extend64(val, size * 8 - 1),
				insn->opnd_bytes);
		break;
	case KMMIO_READ_SWAP:
		insn_assign_reg(reg, kmmio_swab(val, size), size);
		break;
	default:
		break;
	}

	/* Reported at the accessing instruction, then past it. */
	kmmio_done(regs, &op, write ? MMIO_WRITE : MMIO_READ, size, val, time);
	regs->ip += insn->length;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kmmio_emulate_insn);

/*
 * Decoded instructions, per CPU, by address: a driver accesses its
 * registers from a few places over and over.  An entry is used only if
 * the instruction bytes are still the same.  IRQs are off in the fault
 * handler; an NMI, which could interrupt an update, does not use it.
 */
#define KMMIO_DECODED_BITS	3

struct kmmio_decoded {
	unsigned long ip;
	int len;
	u8 bytes[MAX_INSN_SIZE];
	struct insn insn;
};

static DEFINE_PER_CPU(struct kmmio_decoded [1 << KMMIO_DECODED_BITS],
		      kmmio_decoded);

/* Decode the @len bytes at @buf, fetched from @ip, into @insn. */
static int kmmio_decode_at(unsigned long ip, const u8 *buf, int len,
			   struct insn *insn)
{
	struct kmmio_decoded *d;

	if (in_nmi())
		return insn_decode(insn, buf, len, INSN_MODE_KERN);

	d = *this_cpu_ptr(&kmmio_decoded) + hash_long(ip, KMMIO_DECODED_BITS);
	if (d->ip == ip && d->len == len && !memcmp(d->bytes, buf, len)) {
		/* All fields are decoded; point the copy at @buf anyway. */
		*insn = d->insn;
		insn->kaddr = buf;
		insn->end_kaddr = buf + len;
		insn->next_byte = buf + insn->length;
		return 0;
	}
	if (insn_decode(insn, buf, len, INSN_MODE_KERN))
		return -EINVAL;
	d->ip = ip;
	d->len = len;
	memcpy(d->bytes, buf, len);
	d->insn = *insn;
	return 0;
}

static int kmmio_fetch(unsigned long ip, u8 *buf)
{
	int len = MAX_INSN_SIZE;

	if (!copy_from_kernel_nofault(buf, (void *)ip, len))
		return len;
	/* The instruction may end right before an unmapped page. */
	len = min_t(int, len, PAGE_SIZE - offset_in_page(ip));
	if (!copy_from_kernel_nofault(buf, (void *)ip, len))
		return len;
	return 0;
}

/*
 * The widest memory operand of an instruction that kmmio_rebase() moves:
 * a general-purpose, SSE or CMPXCHG16B access, and with VEX an AVX one.
 * Wider (x87 state, XSAVE, MOVDIR64B) and scattered (VSIB) operands are
 * refused by kmmio_rebase_form().
 */
#define KMMIO_REBASE_MAX	16
#define KMMIO_REBASE_MAX_VEX	32

/*
 * May the instruction @insn, whose ModRM byte names a memory operand, be
 * single-stepped with a register that addresses the operand moved by
 * kmmio_rebase()?  Returns the widest its operand can be, or 0 if not.
 * *@avoid gets the registers (bits by number) that the instruction also
 * reads as data, implicitly or in its ModRM reg field: moving one of them
 * would change what it computes or stores.  Those it only writes may be
 * moved (they are not restored after the step then).
 */
static int kmmio_rebase_form(struct insn *insn, unsigned int *avoid)
{
	u8 op0 = insn->opcode.bytes[0], op1 = insn->opcode.bytes[1];
	u8 op2 = insn->opcode.bytes[2];
	int reg = X86_MODRM_REG(insn->modrm.value);
	bool reg_read = true;

	if (X86_REX_R(insn->rex_prefix.value))
		reg += 8;
	/* The stack pointer: an interrupt would push onto the alias. */
	*avoid = BIT(4);

	if (insn_is_rex2(insn) || insn_is_evex(insn) || insn_is_xop(insn))
		return 0;
	if (insn->vex_prefix.nbytes) {
		/* VEX.X and VEX.B, which insn_get_addr_ref() does not use. */
		if (insn->vex_prefix.nbytes == 3 &&
		    (insn->vex_prefix.bytes[1] & 0x60) != 0x60)
			return 0;
		/* BMI names registers in VEX.vvvv too; gathers use VSIB. */
		if (insn_vex_m_bits(insn) == 2 &&
		    (op0 >= 0xf0 || (op0 & 0xf0) == 0x90))
			return 0;
		/* The reg field is a vector, or a result register. */
		return KMMIO_REBASE_MAX_VEX;
	}

	switch (op0) {
	case 0x0f:
		break;
	case 0x8a: case 0x8b:			/* MOV r, m */
	case 0x63:				/* MOVSXD r, m */
	case 0x69: case 0x6b:			/* IMUL r, m, imm */
	case 0x80 ... 0x83:			/* ALU m, imm */
	case 0x8c: case 0x8e: case 0x8f:	/* MOV m/Sreg, POP m */
	case 0xc0: case 0xc1: case 0xd0: case 0xd1:	/* shifts */
	case 0xc6: case 0xc7: case 0xfe: case 0xff:
		reg_read = false;
		break;
	case 0xd2: case 0xd3:			/* shifts by CL */
		*avoid |= BIT(1);
		reg_read = false;
		break;
	case 0xf6: case 0xf7:
		reg_read = false;
		if (X86_MODRM_REG(insn->modrm.value) >= 4)
			*avoid |= BIT(0) | BIT(2);	/* MUL, DIV: rDX:rAX */
		break;
	case 0xd8 ... 0xdf:			/* x87: up to 108 bytes */
		return 0;
	default:
		break;
	}
	if (op0 != 0x0f)
		goto out;

	switch (op1) {
	case 0x38:
		if (op2 == 0xf8)		/* MOVDIR64B, ENQCMD */
			return 0;
		/* MOVBE r, m loads; with F2 it is CRC32, which accumulates. */
		if (op2 < 0xf0 || (op2 == 0xf0 && !insn_has_prefix_byte(insn, 0xf2)))
			reg_read = false;
		break;
	case 0x3a:
		if (op2 < 0xf0)
			reg_read = false;	/* SSE: the reg field is a vector */
		break;
	case 0x01:				/* descriptor tables */
	case 0xae:				/* FXSAVE, XSAVE, CLFLUSH */
		return 0;
	case 0xc7:
		if (X86_MODRM_REG(insn->modrm.value) != 1)
			return 0;		/* XSAVES, XRSTORS, ... */
		*avoid |= BIT(0) | BIT(1) | BIT(2) | BIT(3);	/* CMPXCHG8B */
		break;
	case 0xb0: case 0xb1:			/* CMPXCHG: rAX too */
		*avoid |= BIT(0);
		break;
	case 0xa5: case 0xad:			/* SHLD, SHRD by CL */
		*avoid |= BIT(1);
		break;
	case 0x00: case 0x0d: case 0x18 ... 0x1f:	/* the reg field is a code */
	case 0x90 ... 0x9f:			/* SETcc */
	case 0xba:				/* BT* m, imm */
	case 0x10 ... 0x17: case 0x28 ... 0x2b: case 0x2e: case 0x2f:
	case 0x50 ... 0x7f: case 0xc2: case 0xc4 ... 0xc6:
	case 0xd0 ... 0xfe:			/* SSE, MMX: a vector */
	case 0x2c: case 0x2d:			/* CVT*2SI: a result */
	case 0xb2: case 0xb4 ... 0xb8:		/* LSS, LFS, LGS, MOVZX, POPCNT */
	case 0xbc ... 0xbf:			/* BSF, BSR, MOVSX */
		reg_read = false;
		break;
	default:
		break;
	}
out:
	if (reg_read)
		*avoid |= BIT(reg);
	return KMMIO_REBASE_MAX;
}

/*
 * The out-of-line fallback: make the instruction at @regs, which accessed
 * @fault and which the emulator does not handle, access the alias of the
 * page instead, by moving the base register of its operand (or, without
 * one, its index register) by the distance from the page to the alias
 * for one single step.  The page stays armed: another CPU's access to it
 * meanwhile traps and is traced as always.  post_kmmio_handler() moves
 * the register back, unless the instruction wrote it.
 *
 * The operand must lie, for the widest access the form can make, within
 * the pages of one probe, for its alias covers no more.  Refused: an
 * operand addressed relative to RIP, with no register, with the stack
 * pointer, or with the same register as base and index; a segment
 * override or 32-bit addressing; a register the instruction reads as
 * data too (kmmio_rebase_form()).  Those are stepped on the page.
 *
 * Return: true when the register was moved; @ctx records it.
 */
static bool kmmio_rebase(struct pt_regs *regs, struct insn *insn,
			 unsigned long fault, struct kmmio_context *ctx)
{
	u8 modrm = insn->modrm.value, mod = X86_MODRM_MOD(modrm);
	int base, index = -1, regno, width;
	unsigned long ea, delta, *r;
	unsigned int avoid;
	struct kmmio_probe *p;

	if (!insn->modrm.nbytes || mod == 3 || insn_rip_relative(insn) ||
	    insn->addr_bytes != sizeof(long) || kmmio_seg_override(insn))
		return false;
	width = kmmio_rebase_form(insn, &avoid);
	if (!width)
		return false;

	if (insn->sib.nbytes) {
		base = X86_SIB_BASE(insn->sib.value);
		index = X86_SIB_INDEX(insn->sib.value);
		if (X86_REX_X(insn->rex_prefix.value))
			index += 8;
		if (index == 4)
			index = -1;
	} else {
		base = X86_MODRM_RM(modrm);
	}
	if (!mod && base == 5)
		base = -1;		/* a 32-bit displacement, no base */
	else if (X86_REX_B(insn->rex_prefix.value))
		base += 8;
	regno = base >= 0 ? base : index;
	if (regno < 0 || (base >= 0 && base == index) || (avoid & BIT(regno)))
		return false;

	ea = (unsigned long)insn_get_addr_ref(insn, regs);
	if (ea == -1UL || fault - ea >= width)
		return false;
	p = get_kmmio_alias(ea, width, get_kmmio_probe(fault));
	if (!p)
		return false;

	delta = (unsigned long)p->alias->addr - p->page_start;
	if (base < 0)
		delta >>= X86_SIB_SCALE(insn->sib.value);
	ctx->moved_off = pt_regs_offset(regs, regno);
	if (ctx->moved_off < 0)
		return false;
	r = (void *)regs + ctx->moved_off;
	*r += delta;
	ctx->delta = delta;
	ctx->moved = *r;
	return true;
}

/*
 * Single-step the access to @f, on the alias if @rebased: the #DB after
 * it ends in post_kmmio_handler().
 */
static void kmmio_begin_step(struct pt_regs *regs, struct kmmio_fault_page *f,
			     bool rebased)
{
	struct kmmio_context *ctx = this_cpu_ptr(&kmmio_ctx);

	this_cpu_inc(kmmio_stats.stepped);
	if (!rebased)
		this_cpu_inc(kmmio_stats.unarmed);
	ctx->active++;
	ctx->fpage = f;
	ctx->rebased = rebased;
	ctx->addr = rebased ? 0 : f->addr;
	ctx->saved_flags = regs->flags & X86_EFLAGS_TF;

	/*
	 * Single-step with the interrupt flag as it is.  Clearing it here
	 * and setting it again from the #DB handler, whose exit restores
	 * lockdep's view of the interrupt state from its entry, would leave
	 * lockdep believing interrupts are off.  An interrupt taken before
	 * the stepped instruction runs without preemption (the RCU-sched
	 * read lock) and sees this page present; its accesses to other
	 * armed pages are emulated.  The "stop" policy masks interrupts with
	 * the task priority before it gets here.
	 */
	regs->flags |= X86_EFLAGS_TF;
}

/*
 * The "stop" policy holds the other CPUs while one single-steps, so that
 * none of them reaches the page while it is present.  They have to stop
 * wherever they are, interrupts off included: the stepping CPU sends
 * them an NMI, as kgdb does, and they wait in NMI context until it has
 * armed the page again.  The stepping CPU masks its own interrupts with
 * the APIC's task priority for the step, for an interrupt handler there
 * could spin on a lock a held CPU owns, or touch the page while it is
 * present.  (Clearing the interrupt flag instead would leave lockdep's
 * view of it wrong: see kmmio_fallback_access().)
 *
 * One CPU stops the others at a time: kmmio_stop_owner.  A CPU waiting to
 * become the owner takes the owner's NMI meanwhile.  kmmio_stop_round is
 * nonzero while the others are held; each target's kmmio_stop_wanted
 * says which round its NMI belongs to, and its kmmio_stop_joined tells
 * the owner it is held.  The waits are bounded: a CPU that does not
 * arrive in time (a CPU coming online, an NMI handler that runs long)
 * costs the guarantee for that one step, with a warning, not a hang.
 *
 * The bounds are on the time the waiting CPU has run, not on the clock:
 * a virtual machine's host may not run a vCPU for a while (an
 * overcommitted host; QEMU's TCG runs all vCPUs on one thread), while
 * the guest's clock goes on.  Bounded by the clock, a held CPU would
 * give up because the owner's vCPU did not run, and touch the page
 * while it is present.  A gap of more than KMMIO_STOP_GAP_NS between
 * two looks at the clock counts as KMMIO_STOP_GAP_NS: the CPU did not
 * run meanwhile (or ran an SMI), and nor did it wait.
 */
#define KMMIO_STOP_WAIT_NS	(100 * NSEC_PER_MSEC)
#define KMMIO_STOP_HOLD_NS	NSEC_PER_SEC
#define KMMIO_STOP_GAP_NS	NSEC_PER_MSEC

struct kmmio_stop_wait {
	u64 last;	/* local_clock() at the last look */
	u64 ran;	/* time waited, gaps cut to KMMIO_STOP_GAP_NS */
};

static void kmmio_stop_wait_start(struct kmmio_stop_wait *w)
{
	w->last = local_clock();
	w->ran = 0;
}

/* Has this CPU waited for more than @limit ns of its own time? */
static bool kmmio_stop_wait_over(struct kmmio_stop_wait *w, u64 limit)
{
	u64 now = local_clock();

	w->ran += min_t(u64, now - w->last, KMMIO_STOP_GAP_NS);
	w->last = now;
	return w->ran > limit;
}

static atomic_t kmmio_stop_owner = ATOMIC_INIT(-1);
static unsigned long kmmio_stop_seq;	/* written by the owner only */
static unsigned long kmmio_stop_round;
static unsigned long kmmio_stop_page;
static DEFINE_PER_CPU(unsigned long, kmmio_stop_wanted);
static DEFINE_PER_CPU(unsigned long, kmmio_stop_joined);

static int kmmio_stop_nmi(unsigned int type, struct pt_regs *regs)
{
	unsigned long round = this_cpu_read(kmmio_stop_wanted), page;
	struct kmmio_stop_wait w;

	if (!round)
		return NMI_DONE;
	this_cpu_write(kmmio_stop_wanted, 0);
	/* Late, after the owner gave up waiting: the round is over. */
	if (READ_ONCE(kmmio_stop_round) != round)
		return NMI_HANDLED;

	page = READ_ONCE(kmmio_stop_page);
	/* Held from here on: pairs with the owner's acquire. */
	smp_store_release(this_cpu_ptr(&kmmio_stop_joined), round);
	kmmio_stop_wait_start(&w);
	while (READ_ONCE(kmmio_stop_round) == round) {
		if (kmmio_stop_wait_over(&w, KMMIO_STOP_HOLD_NS)) {
			pr_warn_once("CPU %d: held for a single step for more than a second, going on\n",
				     smp_processor_id());
			break;
		}
		cpu_relax();
	}
	/* The page was present meanwhile: drop what the TLB may hold of it. */
	flush_tlb_one_kernel(page);
	return NMI_HANDLED;
}

/* Only with a local APIC: see kmmio_fallback_access(). */
static void kmmio_stop_send_nmi(void)
{
#ifdef CONFIG_X86_LOCAL_APIC
	apic_send_IPI_allbutself(NMI_VECTOR);
#endif
}

/*
 * Hold the other online CPUs for a single step at @page.  Call as the
 * owner, with kmmio_pte_lock held.  Returns whether all of them arrived
 * in time; the ones that did are held until kmmio_stop_release().
 */
static bool kmmio_stop_others(unsigned long page)
{
	int me = smp_processor_id(), cpu;
	struct kmmio_stop_wait w;
	unsigned long round;

	round = ++kmmio_stop_seq ?: ++kmmio_stop_seq;
	WRITE_ONCE(kmmio_stop_page, page);
	WRITE_ONCE(kmmio_stop_round, round);
	for_each_online_cpu(cpu) {
		if (cpu != me)
			per_cpu(kmmio_stop_wanted, cpu) = round;
	}
	/* The round before the NMIs that ask for it. */
	smp_mb();
	kmmio_stop_send_nmi();

	kmmio_stop_wait_start(&w);
	for_each_online_cpu(cpu) {
		if (cpu == me)
			continue;
		/* Pairs with the release in kmmio_stop_nmi(). */
		while (smp_load_acquire(per_cpu_ptr(&kmmio_stop_joined, cpu)) != round) {
			if (kmmio_stop_wait_over(&w, KMMIO_STOP_WAIT_NS))
				return false;
			cpu_relax();
		}
	}
	return true;
}

/*
 * Let the held CPUs go (each drops the page from its TLB first) and give
 * up ownership.  A late NMI of this round finds the round over.
 */
static void kmmio_stop_release(void)
{
	WRITE_ONCE(kmmio_stop_round, 0);
	atomic_set_release(&kmmio_stop_owner, -1);
}

/*
 * The "stop" policy for the access at @addr: report it first, for the
 * probe's handler may take a lock a held CPU owns; hold the other CPUs,
 * make the page present and single-step with interrupts masked.  Returns
 * as kmmio_fallback_access().
 */
static int kmmio_fallback_stop(struct pt_regs *regs, unsigned long addr,
			       struct kmmio_fault_page *f, const u8 *buf,
			       int len)
{
	struct kmmio_context *ctx = this_cpu_ptr(&kmmio_ctx);
	int me = smp_processor_id();
	bool armed, held;

	while (atomic_cmpxchg_acquire(&kmmio_stop_owner, -1, me) != -1)
		cpu_relax();

	/* Disarmed meanwhile (unregistered): execute the access again. */
	if (!READ_ONCE(f->armed)) {
		atomic_set_release(&kmmio_stop_owner, -1);
		flush_tlb_one_kernel(f->addr);
		return 1;
	}
	kmmio_report_unknown(regs, f, addr, buf, len);

	arch_spin_lock(&kmmio_pte_lock);
	held = kmmio_stop_others(f->addr);
	armed = f->armed;
	if (armed)
		arch_kmmio_set_presence(f, true);
	arch_spin_unlock(&kmmio_pte_lock);
	flush_tlb_one_kernel(f->addr);

	/*
	 * Unregistered between the report and the lock: the access is
	 * performed once anyway, on the page present now.
	 */
	if (!armed) {
		kmmio_stop_release();
		return 1;
	}

	ctx->stopped = true;
	ctx->all_held = held;
	ctx->saved_tpr = apic_read(APIC_TASKPRI);
	apic_write(APIC_TASKPRI, APIC_TPRI_MASK);
	kmmio_begin_step(regs, f, false);
	return 2;
}

/*
 * The access at @addr by the instruction @insn (NULL if it could not be
 * decoded) cannot be emulated: report it as unknown with its first
 * instruction bytes, then single-step it on the alias, or, if it cannot
 * be moved there, on the page or not at all, as the policy says.  A CPU
 * steps one instruction at a time: an access from an interrupt taken
 * while it steps is refused, as is one in NMI context.  Returns 2, with
 * the RCU read lock held until post_kmmio_handler(), when it single-steps;
 * 1 otherwise.
 */
static int kmmio_fallback_access(struct pt_regs *regs, unsigned long addr,
				 struct kmmio_fault_page *f, struct insn *insn,
				 const u8 *buf, int len)
{
	struct kmmio_context *ctx = this_cpu_ptr(&kmmio_ctx);
	bool step = false, refuse = false, nmi = in_nmi(), locked = true;

	if (insn && !nmi && !ctx->active && kmmio_rebase(regs, insn, addr, ctx)) {
		kmmio_report_unknown(regs, f, addr, buf, len);
		kmmio_begin_step(regs, f, true);
		return 2;
	}

	/*
	 * An NMI cannot round up the others (their NMIs would wait for its
	 * end): it is refused below.  Nor can a machine without a local APIC.
	 */
	if (READ_ONCE(kmmio_fallback_policy) == KMMIO_FALLBACK_STOP &&
	    !ctx->active && !in_nmi() && IS_ENABLED(CONFIG_X86_LOCAL_APIC) &&
	    boot_cpu_has(X86_FEATURE_APIC))
		return kmmio_fallback_stop(regs, addr, f, buf, len);

	/*
	 * In NMI context (an access from an NMI, #MC or #DB handler) nothing
	 * is single-stepped: a #DB there would end the NMI early.  Nor may
	 * it wait for kmmio_pte_lock, which the code it interrupted may hold
	 * on this CPU.  The access is refused, and if the lock is busy,
	 * without it: the page's PTE and flags are written whole, and a
	 * holder on another CPU that arms the page again meanwhile (its #DB
	 * after a single step) only makes the access fault once more.
	 */
	if (nmi)
		locked = arch_spin_trylock(&kmmio_pte_lock);
	else
		arch_spin_lock(&kmmio_pte_lock);
	if (f->armed) {
		arch_kmmio_set_presence(f, true);
		if (nmi || ctx->active ||
		    READ_ONCE(kmmio_fallback_policy) == KMMIO_FALLBACK_REFUSE) {
			f->refused = true;
			refuse = true;
		} else {
			step = true;
		}
	}
	if (locked)
		arch_spin_unlock(&kmmio_pte_lock);
	flush_tlb_one_kernel(f->addr);

	/* Disarmed meanwhile: execute the access again. */
	if (!step && !refuse)
		return 1;

	kmmio_report_unknown(regs, f, addr, buf, len);

	if (refuse) {
		this_cpu_inc(kmmio_stats.refused);
		pr_warn_ratelimited("%pS: not emulated (%*ph), page 0x%lx no longer traced\n",
				    (void *)regs->ip, len, buf, f->addr);
		return 1;
	}

	kmmio_begin_step(regs, f, false);
	return 2;
}

/*
 * Called from the page fault handler for a kernel fault when a probe is
 * registered (is_kmmio_active()).
 *
 * Context: IRQs off (the fault entry disabled them), do not enable them
 * and do not sleep.  We may be in an interrupt, in a critical section or
 * in the middle of a process switch.  Another CPU may be registering or
 * removing probes meanwhile.  In NMI context (NMI, #MC, #DB) an access is
 * emulated or refused, never single-stepped, and no lock is waited for:
 * the RCU-sched read lock and the probes' handlers are NMI-safe, and
 * kmmio_pte_lock is only tried (kmmio_fallback_access()).
 *
 * Only a not-present data access can be tracing's: a protection or
 * reserved-bit fault on a traced page (which the "refuse" policy or a
 * single step made present), an instruction fetch from one, or a write
 * to one that was read-only is a real fault, which no emulation or retry
 * cures.  It goes to the normal fault path (an exception fixup, or an
 * oops).
 *
 * Return: 1 if the fault was a traced access and has been handled, 0 if
 * it is somebody else's.
 */
int kmmio_handler(struct pt_regs *regs, unsigned long error_code,
		  unsigned long addr)
{
	struct kmmio_context *ctx;
	struct kmmio_fault_page *f;
	u8 buf[MAX_INSN_SIZE];
	struct insn insn;
	int ret = 0, len;
	bool decoded;

	lockdep_assert_irqs_disabled();

	if (user_mode(regs))
		return 0;

	/*
	 * The RCU read lock keeps the page record and the alias alive; in
	 * the single-step fallback it is held until post_kmmio_handler().
	 */
	rcu_read_lock_sched_notrace();

	f = get_kmmio_fault_page(addr);
	if (!f)
		goto out;

	if ((error_code & (X86_PF_PROT | X86_PF_RSVD | X86_PF_INSTR)) ||
	    ((error_code & X86_PF_WRITE) && !kmmio_was_writable(f))) {
		pr_err_ratelimited("%pS: fault at 0x%lx (error code 0x%lx) on a traced page, not caused by tracing\n",
				   (void *)regs->ip, addr, error_code);
		goto out;
	}

	ctx = this_cpu_ptr(&kmmio_ctx);
	if (ctx->active && ctx->addr == f->addr) {
		/*
		 * A fault on the page this CPU single-steps an access to,
		 * present now: the instruction faults for another reason
		 * than tracing.  Let do_page_fault() have it.
		 */
		pr_debug("fault at 0x%08lx while single-stepping 0x%08lx on CPU %d\n",
			 addr, ctx->addr, smp_processor_id());
		goto out;
	}

	if (!READ_ONCE(f->armed)) {
		/*
		 * Disarmed meanwhile: by the removal of its last probe, or
		 * for another CPU's single step.  Execute the access again.
		 */
		flush_tlb_one_kernel(addr);
		ret = 1;
		goto out;
	}

	len = kmmio_fetch(regs->ip, buf);
	decoded = len && !kmmio_decode_at(regs->ip, buf, len, &insn);
	if (decoded) {
		switch (kmmio_emulate_insn(regs, &insn, addr)) {
		case 0:
			ret = 1;
			goto out;
		case -EAGAIN:
			/*
			 * The operand is on no armed page: the page was
			 * disarmed meanwhile, or the decoded operand is not
			 * what faulted (step that).
			 */
			if (!READ_ONCE(f->armed)) {
				ret = 1;
				goto out;
			}
			break;
		default:
			break;
		}
	}

	ret = kmmio_fallback_access(regs, addr, f, decoded ? &insn : NULL,
				    buf, len);
	if (ret == 2)
		return 1;	/* RCU read lock held until the #DB */
out:
	rcu_read_unlock_sched_notrace();
	return ret;
}

/*
 * The #DB after a single-step fallback: arm the page again and restore
 * the flags.  Interrupts are disabled on entry as trap1 is an interrupt
 * gate and they remain disabled throughout this function.
 */
static int post_kmmio_handler(unsigned long condition, struct pt_regs *regs)
{
	struct kmmio_context *ctx = this_cpu_ptr(&kmmio_ctx);
	struct kmmio_fault_page *f;
	int ret = 0;

	/*
	 * The die notifier stays registered from boot on, so every
	 * single-step trap in the system comes here: one without an active
	 * context is somebody else's (a debugger, kprobes, ptrace).
	 */
	if (!ctx->active)
		goto out;

	if (ctx->rebased) {
		unsigned long *r = (void *)regs + ctx->moved_off;

		/* Unless the instruction wrote the register itself. */
		if (*r == ctx->moved)
			*r -= ctx->delta;
		ctx->rebased = false;
		goto done;
	}

	f = ctx->fpage;
	arch_spin_lock(&kmmio_pte_lock);
	if (f->count && !f->armed && !f->refused)
		arch_kmmio_set_presence(f, false);
	arch_spin_unlock(&kmmio_pte_lock);
	flush_tlb_one_kernel(f->addr);
	if (ctx->stopped) {
		apic_write(APIC_TASKPRI, ctx->saved_tpr);
		kmmio_stop_release();
		ctx->stopped = false;
		if (!ctx->all_held)
			pr_warn_ratelimited("%pS: not all CPUs stopped in time for the single step\n",
					    (void *)regs->ip);
	} else {
		/* Other CPUs may have cached the page meanwhile. */
		irq_work_queue(&kmmio_flush_irq_work);
	}
done:
	regs->flags &= ~X86_EFLAGS_TF;
	regs->flags |= ctx->saved_flags;

	/* These were acquired in kmmio_handler(). */
	ctx->active--;
	BUG_ON(ctx->active);
	rcu_read_unlock_sched_notrace();

	/*
	 * if somebody else is singlestepping across a probe point, flags
	 * will have TF set, in which case, continue the remaining processing
	 * of do_debug, as if this is not a probe hit.
	 */
	if (!(regs->flags & X86_EFLAGS_TF))
		ret = 1;
out:
	return ret;
}

static int
kmmio_die_notifier(struct notifier_block *nb, unsigned long val, void *args)
{
	struct die_args *arg = args;
	unsigned long* dr6_p = (unsigned long *)ERR_PTR(arg->err);

	if (val == DIE_DEBUG && (*dr6_p & DR_STEP))
		if (post_kmmio_handler(*dr6_p, arg->regs) == 1) {
			/*
			 * Reset the BS bit in dr6 (pointed by args->err) to
			 * denote completion of processing
			 */
			*dr6_p &= ~DR_STEP;
			return NOTIFY_STOP;
		}

	return NOTIFY_DONE;
}

static struct notifier_block nb_die = {
	.notifier_call = kmmio_die_notifier
};

#if IS_ENABLED(CONFIG_KUNIT)
/* For the tests: hold kmmio_pte_lock, as the core's own paths do. */
void kmmio_test_pte_lock(void)
{
	arch_spin_lock(&kmmio_pte_lock);
}
EXPORT_SYMBOL_IF_KUNIT(kmmio_test_pte_lock);

void kmmio_test_pte_unlock(void)
{
	arch_spin_unlock(&kmmio_pte_lock);
}
EXPORT_SYMBOL_IF_KUNIT(kmmio_test_pte_unlock);

/* Send this CPU an NMI; false without a local APIC. */
bool kmmio_test_self_nmi(void)
{
#ifdef CONFIG_X86_LOCAL_APIC
	if (boot_cpu_has(X86_FEATURE_APIC)) {
		__apic_send_IPI_mask(cpumask_of(smp_processor_id()), NMI_VECTOR);
		return true;
	}
#endif
	return false;
}
EXPORT_SYMBOL_IF_KUNIT(kmmio_test_self_nmi);
#endif

int __init arch_kmmio_init(void)
{
	int ret;

	ret = register_nmi_handler(NMI_LOCAL, kmmio_stop_nmi, 0, "kmmio");
	if (ret)
		return ret;
	return register_die_notifier(&nb_die);
}
