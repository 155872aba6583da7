/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MMIOTRACE_H
#define _LINUX_MMIOTRACE_H

#include <linux/types.h>
#include <linux/list.h>

#include <linux/jump_label_ratelimit.h>

struct kmmio_probe;
struct kmmio_access;
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
};

/* Instruction forms single-stepped or refused, per CPU. */
#define KMMIO_FALLBACK_OPS	8

struct kmmio_fallback_op {
	u32	opcode;		/* first three instruction bytes, 0xAABBCC */
	u32	count;
};

struct pci_dev;

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
 * it may live in a module.  The core calls it directly (static calls), in
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

extern int register_kmmio_probe(struct kmmio_probe *p);
extern void unregister_kmmio_probe(struct kmmio_probe *p);
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

/* Called from ioremap.c: tell the kmmio core about mappings. */
extern void mmiotrace_ioremap(resource_size_t offset, unsigned long size,
							void __iomem *addr);
void mmiotrace_iounmap(const void __iomem *addr);

/* For anyone to insert markers. Remember trailing newline. */
extern __printf(1, 2) int mmiotrace_printk(const char *fmt, ...);
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

static inline void mmiotrace_ioremap(resource_size_t offset,
					unsigned long size, void __iomem *addr)
{
}

static inline void mmiotrace_iounmap(const void __iomem *addr)
{
}

static inline __printf(1, 2) int mmiotrace_printk(const char *fmt, ...)
{
	return 0;
}
#endif /* CONFIG_MMIOTRACE */

enum mm_io_opcode {
	MMIO_READ	= 0x1,	/* struct mmiotrace_rw */
	MMIO_WRITE	= 0x2,	/* struct mmiotrace_rw */
	MMIO_PROBE	= 0x3,	/* struct mmiotrace_map */
	MMIO_UNPROBE	= 0x4,	/* struct mmiotrace_map */
	MMIO_UNKNOWN_OP = 0x5,	/* struct mmiotrace_rw */
};

struct mmiotrace_rw {
	resource_size_t	phys;	/* PCI address of register */
	unsigned long	value;
	unsigned long	pc;	/* optional program counter */
	int		map_id;
	unsigned char	opcode;	/* one of MMIO_{READ,WRITE,UNKNOWN_OP} */
	unsigned char	width;	/* size of register access in bytes */
};

struct mmiotrace_map {
	resource_size_t	phys;	/* base address in PCI space */
	unsigned long	virt;	/* base virtual address */
	unsigned long	len;	/* mapping size */
	int		map_id;
	unsigned char	opcode;	/* MMIO_PROBE or MMIO_UNPROBE */
};

/* in kernel/trace/trace_mmiotrace.c */
extern void enable_mmiotrace(void);
extern void disable_mmiotrace(void);
extern void mmio_trace_rw(struct mmiotrace_rw *rw);
extern void mmio_trace_mapping(struct mmiotrace_map *map);
extern __printf(1, 0) int mmio_trace_printk(const char *fmt, va_list args);

#endif /* _LINUX_MMIOTRACE_H */
