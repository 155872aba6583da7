/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmmio: trace accesses to kernel mappings of MMIO (or any) memory.
 *
 * The interface of the kmmio core to its users (probes, the frontend,
 * the accounting), and the interface between the generic core in
 * mm/kmmio.c and the architecture that traps and performs the accesses.
 * See Documentation/trace/mmiotrace.rst.
 */
#ifndef _LINUX_KMMIO_H
#define _LINUX_KMMIO_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/jump_label_ratelimit.h>

struct kmmio_probe;
struct kmmio_access;
struct pci_dev;
struct pt_regs;

/*
 * Called for each access to the probed range, from the page fault handler,
 * in whatever context the access was made: process, softirq, hardirq or
 * NMI, IRQs off, with any lock of the accessing code held, raw spinlocks
 * included.  The handler must not sleep, allocate or take a lock: record
 * the access locklessly (per CPU, as the ftrace ring buffer does).  It may
 * run until unregister_kmmio_probe() has returned, never after.
 */
typedef void (*kmmio_handler_t)(struct kmmio_probe *p,
				const struct kmmio_access *a);

struct kmmio_probe {
	/* kmmio internal list: */
	struct list_head	list;
	/* start location of the probe point: */
	unsigned long		addr;
	/* length of the probe region: */
	unsigned long		len;
	/* Called for each access in [addr, addr + len): */
	kmmio_handler_t		handler;
	void			*private;

	/* Private to the kmmio core: */
	unsigned long		page_start;	/* first byte of the armed pages */
	unsigned long		page_end;	/* one past the last byte */
	struct vm_struct	*alias;		/* mapping of the same memory */
};

/* One access to a traced page, as reported to a probe's handler. */
struct kmmio_access {
	unsigned long	addr;	/* virtual address of the access */
	phys_addr_t	phys;	/* physical address of the access */
	unsigned long	value;	/* value read or written, or opcode bytes */
	unsigned long	ip;	/* address of the accessing instruction */
	u64		time;	/* local_clock() when the access was done */
	pid_t		pid;	/* current task, 0 in interrupt context */
	unsigned int	cpu;
	unsigned char	opcode;	/* MMIO_READ, MMIO_WRITE or MMIO_UNKNOWN_OP */
	unsigned char	width;	/* bytes; 0 for MMIO_UNKNOWN_OP */
};

/*
 * Per-CPU accounting of the core, see kmmio_read_stats().  Every access to
 * an armed page is counted exactly once in emulated, stepped or refused,
 * and, if a probe covers it, once more in traced; dropped counts those
 * no probe covers (the rest of a page an unaligned probe shares).
 */
struct kmmio_stats {
	u64	traced;		/* reported to a probe's handler */
	u64	emulated;	/* performed by the emulator */
	u64	stepped;	/* single-stepped: not emulated, allowed */
	u64	refused;	/* not emulated, refused by the policy */
	u64	dropped;	/* on an armed page but outside every probe */
	u64	unarmed;	/* of stepped: on the page, not on the alias */
};

/* Instruction forms single-stepped or refused, per CPU. */
#define KMMIO_FALLBACK_OPS	8

struct kmmio_fallback_op {
	u32	opcode;		/* first three instruction bytes, 0xAABBCC */
	u32	count;
};

/* A live ioremap() mapping, as the kmmio core tells its frontend. */
struct kmmio_mapping {
	resource_size_t		phys;	/* first byte mapped (unaligned) */
	unsigned long		size;	/* bytes mapped (unaligned) */
	void __iomem		*virt;	/* what ioremap() returned */
	struct pci_dev		*pdev;	/* device whose BAR holds phys, or NULL */
	int			bar;	/* that BAR, or -1 */
};

/*
 * The frontend: at most one is attached to the kmmio core at a time, and
 * it may live in a module.  The core calls it through plain pointers, in
 * process context, serialised with attaching and detaching: once
 * kmmio_detach_frontend() has returned, no callback runs any more.
 *
 * Both callbacks get @fe, the attached frontend, so that a frontend can
 * embed it in its own state and find that with container_of().
 *
 * @map:   a mapping was created; with @existing, it existed when the
 *         frontend attached.  May sleep: this is where a frontend
 *         decides what to trace and registers its probes.
 * @unmap: the mapping is going away: the frontend must unregister its
 *         probes on it before returning.  May sleep.
 */
struct kmmio_frontend {
	void (*map)(const struct kmmio_frontend *fe,
		    const struct kmmio_mapping *m, bool existing);
	void (*unmap)(const struct kmmio_frontend *fe,
		      const struct kmmio_mapping *m);
};

int kmmio_attach_frontend(const struct kmmio_frontend *fe);
void kmmio_detach_frontend(const struct kmmio_frontend *fe);

int register_kmmio_probe(struct kmmio_probe *p);
void unregister_kmmio_probe(struct kmmio_probe *p);
void kmmio_read_stats(int cpu, struct kmmio_stats *stats);
int kmmio_read_fallback_ops(int cpu, struct kmmio_fallback_op *ops, int n);

#ifdef CONFIG_MMIOTRACE
extern struct static_key_false_deferred kmmio_armed;

/*
 * Is any page armed?  A static key: a NOP in the page fault path while
 * nothing is traced.  It goes off a second after the last probe does.
 */
static __always_inline bool is_kmmio_active(void)
{
	return static_branch_unlikely(&kmmio_armed.key);
}

/* Called from page fault handler. */
int kmmio_handler(struct pt_regs *regs, unsigned long error_code,
		  unsigned long addr);
#else /* !CONFIG_MMIOTRACE: */
static inline bool is_kmmio_active(void)
{
	return false;
}

static inline int kmmio_handler(struct pt_regs *regs,
				unsigned long error_code, unsigned long addr)
{
	return 0;
}
#endif /* CONFIG_MMIOTRACE */

#ifdef CONFIG_ARCH_HAS_KMMIO
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <asm/kmmio.h>

/**
 * DOC: The interface between the generic core and the architecture
 *
 * An architecture that selects ARCH_HAS_KMMIO traps every access to an
 * armed page: it makes the page's kernel mapping invalid (not present) and
 * the TLBs forget it, so that each load and store to it faults, and its
 * fault entry calls kmmio_handler() for a kernel-mode fault on an invalid
 * page while is_kmmio_active() (a static key: nothing else on the fault
 * path while nothing is traced).  kmmio_handler() finds the page's record
 * with get_kmmio_fault_page() under the RCU-sched read lock; none: the
 * fault is not tracing's (return 0).  It then performs the one access
 * the faulting instruction makes, through the alias of the probe that
 * covers it (get_kmmio_alias(): a second, valid mapping of the same
 * memory with the same memory type, p->alias->addr + (addr -
 * p->page_start)), writes a loaded value into the destination register
 * with the sign or zero extension the instruction asks for, reports the
 * access with kmmio_report() and moves the instruction pointer past the
 * instruction.  The page never becomes valid, so the accesses of every
 * other CPU keep trapping meanwhile.
 *
 * Where the access comes from the instruction itself, the decoding is the
 * architecture's: x86 decodes the instruction bytes (insn_decode_mmio()).
 * On arm64 a data abort on a load or store of one general-purpose register
 * reports everything needed in its syndrome when ESR_ELx.ISV is set (the
 * access size SAS, sign extension SSE, the register SRT, 64-bit SF, write
 * WnR), as KVM uses it for MMIO emulation: the port performs the access
 * through the alias, writes Xt, and skips the 4-byte instruction.  A form
 * without a usable syndrome (ISV clear: pair, writeback, SIMD) is what
 * x86 calls a fallback: report it with kmmio_report_unknown() and count it
 * in kmmio_stats (stepped or refused).
 *
 * An access the architecture cannot emulate may be let through by making
 * the page valid (arch_kmmio_set_presence(f, true) under kmmio_pte_lock,
 * with f->refused set if it stays so), at the price of missing the other
 * CPUs' accesses meanwhile: it must be counted (kmmio_stats.stepped or
 * .refused) so that users know.
 *
 * The architecture provides, in <asm/kmmio.h>, struct arch_kmmio_page: what
 * it needs to restore a page's mapping (x86: the PTE or PMD before arming).
 */

/*
 * An armed page: a page of the kernel's mapping that at least one probe
 * covers.  Looked up by address under the RCU-sched read lock or
 * kmmio_mutex, freed a grace period after it was disarmed for good.
 */
struct kmmio_fault_page {
	struct list_head list;
	struct kmmio_fault_page *release_next;
	unsigned long addr;	/* first byte of the page */
	unsigned long size;	/* PAGE_SIZE, or PMD_SIZE for a huge page */

	/*
	 * Number of probes covering this page, and whether the page is
	 * armed (not present).  Both change only under kmmio_pte_lock;
	 * count also only under kmmio_mutex.  A page with a count is armed
	 * except while a CPU single-steps an access to it, or after the
	 * fallback policy refused such an access (refused).
	 */
	int count;
	bool armed;
	bool refused;

	struct arch_kmmio_page arch;
};

/*
 * Orders the changes of a page's presence between the generic core
 * (arming and disarming) and the architecture's fault and fallback paths,
 * which may run in NMI-like context: an arch_spinlock_t, hidden from
 * lockdep.  Never take anything under it.
 */
extern arch_spinlock_t kmmio_pte_lock;

DECLARE_PER_CPU(struct kmmio_stats, kmmio_stats);

/* Provided by the generic core to the architecture's fault path: */
struct kmmio_fault_page *get_kmmio_fault_page(unsigned long addr);
struct kmmio_probe *get_kmmio_probe(unsigned long addr);
struct kmmio_probe *get_kmmio_alias(unsigned long addr, int size,
				    struct kmmio_probe *want);
void kmmio_report(struct pt_regs *regs, struct kmmio_fault_page *f,
		  unsigned long addr, unsigned char opcode, int width,
		  unsigned long value, u64 time);
void kmmio_report_unknown(struct pt_regs *regs, struct kmmio_fault_page *f,
			  unsigned long addr, const u8 *buf, int len);

/* Provided by the architecture to the generic core: */

/**
 * arch_kmmio_lookup() - The kernel page that maps an address
 * @addr: a kernel virtual address
 * @size: set to the size of the page mapping @addr; the core refuses to
 *	  trace pages other than PAGE_SIZE and PMD_SIZE ones
 * @present: set to whether that mapping is valid now
 *
 * Context: process context, the generic core's mutex held.
 * Return: 0, or -EINVAL if no page table entry maps @addr.
 */
int arch_kmmio_lookup(unsigned long addr, unsigned long *size, bool *present);

/**
 * arch_kmmio_init_page() - Record a page before it is armed the first time
 * @f: the new record, with @f->addr and @f->size set
 *
 * Save in @f->arch what is needed to make the page valid again and to
 * compute its physical addresses.
 *
 * Context: process context, the generic core's mutex held.
 */
void arch_kmmio_init_page(struct kmmio_fault_page *f);

/**
 * arch_kmmio_set_presence() - Arm or disarm a page
 * @f: the page
 * @present: true to restore the mapping of @f->arch, false to invalidate it
 *
 * Sets @f->armed to !@present.  The TLBs are the caller's: the generic
 * core flushes all CPUs' after arming and the architecture's fault path
 * its own.
 *
 * Context: any, IRQs off, kmmio_pte_lock held.
 */
void arch_kmmio_set_presence(struct kmmio_fault_page *f, bool present);

/**
 * arch_kmmio_phys() - The physical address of an address in an armed page
 * @f: the page
 * @addr: an address in [@f->addr, @f->addr + @f->size)
 *
 * Context: any; the fault path calls it with IRQs off.
 * Return: the physical address that @addr mapped before @f was armed.
 */
phys_addr_t arch_kmmio_phys(const struct kmmio_fault_page *f,
			    unsigned long addr);

/**
 * arch_kmmio_map_alias() - Map a page into a probe's alias
 * @f: the page's record if it is armed already, else NULL
 * @page: the page's first byte, mapped by a page of @size bytes
 * @size: as arch_kmmio_lookup() gave it
 * @va: where in the alias to map it, with 4K pages
 *
 * Map the memory of @page, as it was mapped before arming, at @va with the
 * same memory type (cache mode) and permissions.
 *
 * Context: process context, may sleep.
 * Return: 0 or an errno.
 */
int arch_kmmio_map_alias(const struct kmmio_fault_page *f, unsigned long page,
			 unsigned long size, unsigned long va);

/**
 * arch_kmmio_init() - Set up the architecture's part of the core
 *
 * Called once at boot (core_initcall) after the generic core's tables.
 * Return: 0 or an errno, which disables tracing.
 */
int arch_kmmio_init(void);
#endif /* CONFIG_ARCH_HAS_KMMIO */

#endif /* _LINUX_KMMIO_H */
