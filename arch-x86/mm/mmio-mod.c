// SPDX-License-Identifier: GPL-2.0-or-later
/*
 *
 * Copyright (C) IBM Corporation, 2005
 *               Jeff Muizelaar, 2006, 2007
 *               Pekka Paalanen, 2008 <pq@iki.fi>
 *
 * Derived from the read-mod example from relay-examples by Tom Zanussi.
 */

#define pr_fmt(fmt) "mmiotrace: " fmt

#include <linux/moduleparam.h>
#include <linux/debugfs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/io.h>
#include <linux/mmiotrace.h>
#include <linux/pgtable.h>
#include <asm/e820/api.h> /* for ISA_START_ADDRESS */
#include <linux/atomic.h>
#include <linux/percpu.h>

struct remap_trace {
	struct list_head list;
	struct kmmio_probe probe;
	resource_size_t phys;
	unsigned long id;
};

static DEFINE_MUTEX(mmiotrace_mutex);
static DEFINE_SPINLOCK(trace_lock);
static atomic_t mmiotrace_enabled;
static bool mmiotrace_attached;	/* to the kmmio core, as its frontend */
static LIST_HEAD(trace_list);		/* struct remap_trace */

/*
 * Locking in this file:
 * - mmiotrace_mutex enforces enable/disable_mmiotrace() critical sections,
 *   and protects trace_list.  Probes are registered and removed under it:
 *   both may sleep, as ioremap() and iounmap() may.
 * - mmiotrace_enabled may be modified only when holding mmiotrace_mutex
 *   and trace_lock.
 * - mmiotrace_printk() takes trace_lock to check is_enabled(): it may be
 *   called from any context.
 * - is_enabled() guarantees that mmio_trace_{rw,mapping} are allowed.
 * - The kmmio handler assumes the effect of is_enabled() being true:
 *   disable_mmiotrace() removes every probe before it returns.
 */

/* module parameters */
static unsigned long	filter_offset;
static bool		nommiotrace;
static bool		trace_pc;

module_param(filter_offset, ulong, 0);
module_param(nommiotrace, bool, 0);
module_param(trace_pc, bool, 0);

MODULE_PARM_DESC(filter_offset, "Start address of traced mappings.");
MODULE_PARM_DESC(nommiotrace, "Disable actual MMIO tracing.");
MODULE_PARM_DESC(trace_pc, "Record address of faulting instructions.");

static bool is_enabled(void)
{
	return atomic_read(&mmiotrace_enabled);
}

/* Called by the kmmio core in the page fault handler, IRQs off. */
static void mmiotrace_access(struct kmmio_probe *p,
			     const struct kmmio_access *a)
{
	struct remap_trace *trace = p->private;
	struct mmiotrace_rw rw = {
		.phys = a->addr - trace->probe.addr + trace->phys,
		.value = a->value,
		.map_id = trace->id,
		.opcode = a->opcode,
		.width = a->width,
	};

	/*
	 * Only record the program counter when requested.
	 * It may taint clean-room reverse engineering.
	 */
	if (trace_pc)
		rw.pc = a->ip;
	mmio_trace_rw(&rw);
}

static void ioremap_trace_core(resource_size_t offset, unsigned long size,
							void __iomem *addr)
{
	static atomic_t next_id;
	struct remap_trace *trace = kmalloc_obj(*trace);
	/* These are page-unaligned. */
	struct mmiotrace_map map = {
		.phys = offset,
		.virt = (unsigned long)addr,
		.len = size,
		.opcode = MMIO_PROBE
	};
	int ret;

	if (!trace) {
		pr_err("kmalloc failed in ioremap\n");
		return;
	}

	*trace = (struct remap_trace) {
		.probe = {
			.addr = (unsigned long)addr,
			.len = size,
			.handler = mmiotrace_access,
			.private = trace
		},
		.phys = offset,
		.id = atomic_inc_return(&next_id)
	};
	map.map_id = trace->id;

	mutex_lock(&mmiotrace_mutex);
	if (!is_enabled()) {
		kfree(trace);
		goto not_enabled;
	}

	/* The MAP record comes before the first access. */
	mmio_trace_mapping(&map);
	if (!nommiotrace) {
		ret = register_kmmio_probe(&trace->probe);
		if (ret) {
			pr_err("cannot trace 0x%llx (size 0x%lx): %d\n",
			       (unsigned long long)offset, size, ret);
			kfree(trace);
			goto not_enabled;
		}
	}
	list_add_tail(&trace->list, &trace_list);

not_enabled:
	mutex_unlock(&mmiotrace_mutex);
}

/* The tracer traces the mappings made while it runs, not older ones. */
static void mmiotrace_map(const struct kmmio_frontend *fe,
			  const struct kmmio_mapping *m, bool existing)
{
	if (existing || !is_enabled()) /* recheck and proper locking in *_core() */
		return;

	pr_debug("ioremap_*(0x%llx, 0x%lx) = %p\n",
		 (unsigned long long)m->phys, m->size, m->virt);
	if (filter_offset && m->phys != filter_offset)
		return;
	ioremap_trace_core(m->phys, m->size, m->virt);
}

static void iounmap_trace_core(volatile void __iomem *addr)
{
	struct mmiotrace_map map = {
		.phys = 0,
		.virt = (unsigned long)addr,
		.len = 0,
		.opcode = MMIO_UNPROBE
	};
	struct remap_trace *trace;
	struct remap_trace *tmp;
	struct remap_trace *found_trace = NULL;

	pr_debug("Unmapping %p.\n", addr);

	mutex_lock(&mmiotrace_mutex);
	if (!is_enabled())
		goto not_enabled;

	list_for_each_entry_safe(trace, tmp, &trace_list, list) {
		if ((unsigned long)addr == trace->probe.addr) {
			/* Waits for the handlers in flight. */
			if (!nommiotrace)
				unregister_kmmio_probe(&trace->probe);
			list_del(&trace->list);
			found_trace = trace;
			break;
		}
	}
	map.map_id = (found_trace) ? found_trace->id : -1;
	mmio_trace_mapping(&map);

not_enabled:
	mutex_unlock(&mmiotrace_mutex);
	kfree(found_trace);
}

static void mmiotrace_unmap(const struct kmmio_frontend *fe,
			    const struct kmmio_mapping *m)
{
	if (is_enabled()) /* recheck and proper locking in *_core() */
		iounmap_trace_core(m->virt);
}

static const struct kmmio_frontend mmiotrace_frontend = {
	.map = mmiotrace_map,
	.unmap = mmiotrace_unmap,
};

int mmiotrace_printk(const char *fmt, ...)
{
	int ret = 0;
	va_list args;
	unsigned long flags;
	va_start(args, fmt);

	spin_lock_irqsave(&trace_lock, flags);
	if (is_enabled())
		ret = mmio_trace_printk(fmt, args);
	spin_unlock_irqrestore(&trace_lock, flags);

	va_end(args);
	return ret;
}
EXPORT_SYMBOL(mmiotrace_printk);

static void clear_trace_list(void)
{
	struct remap_trace *trace;
	struct remap_trace *tmp;

	/*
	 * The caller holds mmiotrace_mutex, and is_enabled() is false:
	 * nothing else can traverse or modify this list.
	 */
	list_for_each_entry_safe(trace, tmp, &trace_list, list) {
		pr_notice("purging non-iounmapped trace @0x%08lx, size 0x%lx.\n",
			  trace->probe.addr, trace->probe.len);
		if (!nommiotrace)
			unregister_kmmio_probe(&trace->probe);
		list_del(&trace->list);
		kfree(trace);
	}
}

/*
 * The tracer is the kmmio core's frontend while it runs.  The core
 * emulates every traced access it can decode, so tracing needs no CPU to
 * be taken offline.
 *
 * The core calls the frontend with its own mutex held, and the callbacks
 * take mmiotrace_mutex: attach and detach outside mmiotrace_mutex.  The
 * tracing core serialises enable_mmiotrace() and disable_mmiotrace().
 */
void enable_mmiotrace(void)
{
	int ret;

	mutex_lock(&mmiotrace_mutex);
	if (is_enabled()) {
		mutex_unlock(&mmiotrace_mutex);
		return;
	}

	if (nommiotrace)
		pr_info("MMIO tracing disabled.\n");
	spin_lock_irq(&trace_lock);
	atomic_inc(&mmiotrace_enabled);
	spin_unlock_irq(&trace_lock);
	mutex_unlock(&mmiotrace_mutex);

	ret = kmmio_attach_frontend(&mmiotrace_frontend);
	mmiotrace_attached = !ret;
	if (ret)
		pr_warn("another kmmio frontend is attached: no mappings will be traced (%d)\n",
			ret);
	else
		pr_info("enabled.\n");
}

void disable_mmiotrace(void)
{
	if (!is_enabled())
		return;

	mutex_lock(&mmiotrace_mutex);
	if (!is_enabled())
		goto out;

	spin_lock_irq(&trace_lock);
	atomic_dec(&mmiotrace_enabled);
	BUG_ON(is_enabled());
	spin_unlock_irq(&trace_lock);

	/*
	 * Remove the probes while still attached: a mapping going away
	 * meanwhile waits for mmiotrace_mutex in the unmap callback and
	 * finds its probe gone.  Once detached, the core would unmap it
	 * without telling, and unregistering its probe then would write
	 * the PTEs of an area that is no longer mapped.
	 */
	clear_trace_list(); /* guarantees: no more kmmio callbacks */
	pr_info("disabled.\n");
out:
	mutex_unlock(&mmiotrace_mutex);
	/* The callbacks that still come find is_enabled() false. */
	if (mmiotrace_attached)
		kmmio_detach_frontend(&mmiotrace_frontend);
	mmiotrace_attached = false;
}
