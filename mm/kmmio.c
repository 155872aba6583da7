// SPDX-License-Identifier: GPL-2.0
/*
 * kmmio: trace accesses to kernel mappings of MMIO (or any) memory.
 *
 * A probe covers a range of kernel virtual addresses.  Registering it
 * "arms" the pages of the range: the architecture makes their mappings
 * invalid and the TLBs of all CPUs are flushed, so every access to them
 * raises a page fault.  The architecture's fault path performs the access
 * through an alias mapping of the same memory and reports it to the probe:
 * <linux/kmmio.h> describes the interface between the two.
 *
 * This is the part of the core that no architecture needs to know about:
 * the probes and the armed pages, their lifetime (new faults find the
 * probe before its pages are armed; a fault in flight finds a disarmed
 * page's record until a grace period has passed), the per-CPU
 * accounting, the mappings ioremap() made with their PCI device and BAR,
 * and the one frontend that decides what to trace.
 *
 * Based on kprobes:
 * (C) 2002 Louis Zhuang <louis.zhuang@intel.com>.
 *     2007 Alexander Eichner
 *     2008 Pekka Paalanen <pq@iki.fi>
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/export.h>
#include <linux/hash.h>
#include <linux/kmmio.h>
#include <linux/list.h>
#include <linux/mmiotrace.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/percpu.h>
#include <linux/ptrace.h>
#include <linux/rculist.h>
#include <linux/sched/clock.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include <asm/tlbflush.h>

#define KMMIO_PAGE_HASH_BITS 4
#define KMMIO_PAGE_TABLE_SIZE BIT(KMMIO_PAGE_HASH_BITS)

/*
 * Locking:
 * - kmmio_mutex serialises the writers: probe registration and removal.
 *   They may sleep (allocate the alias, flush the TLBs of all CPUs, wait
 *   for faults in flight).
 * - The fault handler only reads kmmio_probes and kmmio_page_table, under
 *   RCU (sched: IRQs are off in the fault handler anyway).
 * - kmmio_pte_lock orders the changes of a page's presence between the
 *   writers and the architecture's fault path, which may change it from
 *   NMI-like context (x86: the #DB after a single step).  Hidden from
 *   lockdep; nothing is ever taken under it.
 */
static DEFINE_MUTEX(kmmio_mutex);
arch_spinlock_t kmmio_pte_lock = __ARCH_SPIN_LOCK_UNLOCKED;

/*
 * Enabled while a probe is registered: see is_kmmio_active().  Switched
 * off a second after the last probe goes, so that probes coming and going
 * (a frontend reattaching, a driver rebinding) do not patch the fault path
 * each time.
 */
DEFINE_STATIC_KEY_DEFERRED_FALSE(kmmio_armed, HZ);
EXPORT_SYMBOL_GPL(kmmio_armed);

static struct list_head kmmio_page_table[KMMIO_PAGE_TABLE_SIZE];
static LIST_HEAD(kmmio_probes);

DEFINE_PER_CPU(struct kmmio_stats, kmmio_stats);
static DEFINE_PER_CPU(struct kmmio_fallback_op [KMMIO_FALLBACK_OPS],
		      kmmio_fallback_op);

static struct list_head *kmmio_page_list(unsigned long addr)
{
	return &kmmio_page_table[hash_long(addr, KMMIO_PAGE_HASH_BITS)];
}

/*
 * The probe whose range contains @addr, if any.  Hold the RCU read lock
 * or kmmio_mutex.
 */
struct kmmio_probe *get_kmmio_probe(unsigned long addr)
{
	struct kmmio_probe *p;

	list_for_each_entry_rcu(p, &kmmio_probes, list,
				lockdep_is_held(&kmmio_mutex)) {
		if (addr >= p->addr && addr - p->addr < p->len)
			return p;
	}
	return NULL;
}

/*
 * A probe whose armed pages contain all of [@addr, @addr + @size): its
 * alias can perform the access.  Prefer @want.
 */
struct kmmio_probe *get_kmmio_alias(unsigned long addr, int size,
				    struct kmmio_probe *want)
{
	struct kmmio_probe *p;

	if (want && addr >= want->page_start &&
	    addr + size <= want->page_end)
		return want;
	list_for_each_entry_rcu(p, &kmmio_probes, list,
				lockdep_is_held(&kmmio_mutex)) {
		if (addr >= p->page_start && addr + size <= p->page_end)
			return p;
	}
	return NULL;
}

static struct kmmio_fault_page *kmmio_find_page(unsigned long page,
						unsigned long size)
{
	struct kmmio_fault_page *f;

	list_for_each_entry_rcu(f, kmmio_page_list(page), list,
				lockdep_is_held(&kmmio_mutex)) {
		if (f->addr == page && f->size == size)
			return f;
	}
	return NULL;
}

/*
 * The armed-page record of the page containing @addr: a base page or a
 * PMD-sized one, found by hashing, without walking the page tables.  Hold the RCU
 * read lock or kmmio_mutex.
 */
struct kmmio_fault_page *get_kmmio_fault_page(unsigned long addr)
{
	return kmmio_find_page(addr & PAGE_MASK, PAGE_SIZE) ?:
	       kmmio_find_page(addr & PMD_MASK, PMD_SIZE);
}

static void kmmio_count_fallback(const u8 *buf, int len)
{
	struct kmmio_fallback_op *ops = *this_cpu_ptr(&kmmio_fallback_op);
	u32 opcode = 0;
	int i;

	for (i = 0; i < 3; i++)
		opcode = opcode << 8 | (i < len ? buf[i] : 0);
	for (i = 0; i < KMMIO_FALLBACK_OPS; i++) {
		if (!ops[i].count)
			ops[i].opcode = opcode;
		if (ops[i].opcode == opcode) {
			ops[i].count++;
			return;
		}
	}
}

/*
 * Report an access at @addr, in the armed page @f, to the probe that
 * covers it, if any, at the instruction @regs points to.
 */
void kmmio_report(struct pt_regs *regs, struct kmmio_fault_page *f,
		  unsigned long addr, unsigned char opcode, int width,
		  unsigned long value, u64 time)
{
	struct kmmio_probe *p = get_kmmio_probe(addr);
	struct kmmio_access a;

	if (!p) {
		this_cpu_inc(kmmio_stats.dropped);
		return;
	}
	a = (struct kmmio_access) {
		.addr = addr,
		.phys = arch_kmmio_phys(f, addr),
		.value = value,
		.ip = instruction_pointer(regs),
		.time = time,
		.pid = in_task() ? task_pid_nr(current) : 0,
		.cpu = smp_processor_id(),
		.opcode = opcode,
		.width = width,
	};
	this_cpu_inc(kmmio_stats.traced);
	if (p->handler)
		p->handler(p, &a);
}

/*
 * Report an access the architecture does not emulate, with the first
 * bytes of its instruction @buf, and count it by them.
 */
void kmmio_report_unknown(struct pt_regs *regs, struct kmmio_fault_page *f,
			  unsigned long addr, const u8 *buf, int len)
{
	unsigned long value = 0;
	int i;

	for (i = 0; i < 3; i++)
		value = value << 8 | (i < len ? buf[i] : 0);
	kmmio_count_fallback(buf, len);
	kmmio_report(regs, f, addr, MMIO_UNKNOWN_OP, 0, value, local_clock());
}

/* What kmmio_walk_pages() calls for each page. */
typedef int (*kmmio_page_fn_t)(unsigned long page, unsigned long size,
			       bool present, void *data);

/*
 * Call @fn on each page of [@start, @end), stepping by the size of the
 * page (base or PMD-sized) mapping each address.  Stops at the first
 * error.
 */
static int kmmio_walk_pages(unsigned long start, unsigned long end,
			    kmmio_page_fn_t fn, void *data)
{
	unsigned long addr = start, size;
	bool present;
	int ret;

	while (addr < end) {
		ret = arch_kmmio_lookup(addr, &size, &present);
		if (ret)
			return ret;
		addr &= ~(size - 1);
		ret = fn(addr, size, present, data);
		if (ret)
			return ret;
		addr += size;
	}
	return 0;
}

static int kmmio_check_page(unsigned long page, unsigned long size,
			    bool present, void *data)
{
	struct kmmio_probe *p = data;

	if (size != PAGE_SIZE && size != PMD_SIZE) {
		pr_err("0x%lx: only base and PMD-sized pages can be traced\n",
		       page);
		return -EOPNOTSUPP;
	}
	if (!present && !get_kmmio_fault_page(page)) {
		pr_err("0x%lx: not mapped\n", page);
		return -EINVAL;
	}
	if (page < p->page_start)
		p->page_start = page;
	p->page_end = page + size;
	return 0;
}

struct kmmio_alias_ctx {
	struct kmmio_probe *probe;
	unsigned long alias;
};

/* Map @page, as it was before arming, into the alias. */
static int kmmio_map_alias(unsigned long page, unsigned long size,
			   bool present, void *data)
{
	struct kmmio_alias_ctx *ac = data;

	return arch_kmmio_map_alias(get_kmmio_fault_page(page), page, size,
				    ac->alias + (page - ac->probe->page_start));
}

/*
 * The alias: a second mapping of the probe's pages with the same cache
 * mode (the page protection bits of the mapping being traced), for the
 * emulator's accesses.
 */
static int kmmio_alias_create(struct kmmio_probe *p)
{
	struct kmmio_alias_ctx ac = { .probe = p };
	int ret;

	p->alias = get_vm_area_caller(p->page_end - p->page_start, VM_IOREMAP,
				      __builtin_return_address(0));
	if (!p->alias)
		return -ENOMEM;
	ac.alias = (unsigned long)p->alias->addr;
	ret = kmmio_walk_pages(p->page_start, p->page_end, kmmio_map_alias,
			       &ac);
	if (ret) {
		free_vm_area(p->alias);
		p->alias = NULL;
	}
	return ret;
}

/*
 * Take a reference on the page at @page, arming it if it is new.  *@data
 * is the end of the pages done so far.
 */
static int add_kmmio_fault_page(unsigned long page, unsigned long size,
				bool present, void *data)
{
	struct kmmio_fault_page *f = get_kmmio_fault_page(page);
	unsigned long *done = data;
	unsigned long flags;

	if (!f) {
		f = kzalloc_obj(*f, GFP_KERNEL);
		if (!f)
			return -ENOMEM;
		f->addr = page;
		f->size = size;
		arch_kmmio_init_page(f);
		list_add_rcu(&f->list, kmmio_page_list(page));
	}

	local_irq_save(flags);
	arch_spin_lock(&kmmio_pte_lock);
	if (!f->count++ && !f->refused)
		arch_kmmio_set_presence(f, false);
	arch_spin_unlock(&kmmio_pte_lock);
	local_irq_restore(flags);
	*done = page + size;
	return 0;
}

/*
 * Drop a reference on the page at @page; the last one disarms it and
 * queues the record on the list at @data.  The record stays in the table
 * for now: a fault taken before the page was disarmed must still find
 * it (a not-present fault on a kernel address no one claims is fatal).
 */
static int release_kmmio_fault_page(unsigned long page, unsigned long size,
				    bool present, void *data)
{
	struct kmmio_fault_page **release_list = data;
	struct kmmio_fault_page *f = get_kmmio_fault_page(page);
	unsigned long flags;
	bool last;

	if (WARN_ON_ONCE(!f || !f->count))
		return 0;

	local_irq_save(flags);
	arch_spin_lock(&kmmio_pte_lock);
	last = !--f->count;
	if (last && f->armed)
		arch_kmmio_set_presence(f, true);
	arch_spin_unlock(&kmmio_pte_lock);
	local_irq_restore(flags);

	if (last) {
		f->release_next = *release_list;
		*release_list = f;
	}
	return 0;
}

/*
 * Free the records of disarmed pages.  Call with kmmio_mutex held, after
 * a grace period since they were disarmed: the faults on them that were
 * in flight then have found them disarmed and retried.
 */
static void kmmio_free_pages(struct kmmio_fault_page *release_list)
{
	struct kmmio_fault_page *f;

	lockdep_assert_held(&kmmio_mutex);
	if (!release_list)
		return;
	for (f = release_list; f; f = f->release_next)
		list_del_rcu(&f->list);
	synchronize_rcu();
	while (release_list) {
		f = release_list->release_next;
		kfree(release_list);
		release_list = f;
	}
}

/*
 * A reference to the fault-path key.  While it is on (a frontend is
 * attached, or another probe is registered) this only counts, without
 * the CPU hotplug lock: frontend callbacks register probes under
 * kmmio_map_mutex, which hotplug callbacks take (see kmmio_mappings).
 * Dropping a reference that is not the last one does not lock either.
 */
static void kmmio_key_get(void)
{
	if (!static_key_fast_inc_not_disabled(&kmmio_armed.key.key))
		static_branch_deferred_inc(&kmmio_armed);
}

/**
 * register_kmmio_probe() - Start tracing accesses to a range of memory
 * @p: the probe: @p->addr, @p->len and @p->handler set, the rest zeroed
 *
 * Arms every page of the range, mapped with base or PMD-sized pages
 * (4K or 2M on x86).  When this
 * returns, every access to the range on any CPU is reported to
 * @p->handler.  Accesses to the rest of the pages the range shares with
 * memory outside it are performed and counted, not reported.  A range
 * may share pages with other probes, but not start inside one.
 *
 * Context: process context, may sleep.  With no frontend attached and no
 * other probe registered, this takes the CPU hotplug lock: do not call it
 * then under a lock that a CPU hotplug callback may take.  A frontend's
 * callbacks may call it (they run while the frontend is attached).
 * Return: 0, or -EEXIST if @p->addr is in another probe's range, -EINVAL
 * if the range is not mapped, -EOPNOTSUPP if it is mapped with larger pages,
 * -ENOMEM.
 */
int register_kmmio_probe(struct kmmio_probe *p)
{
	struct kmmio_fault_page *release_list = NULL;
	unsigned long done;
	int ret;

	might_sleep();
	if (!p->len || p->addr + p->len < p->addr)
		return -EINVAL;

	/* Before the first page is armed: the fault path must see it. */
	kmmio_key_get();
	mutex_lock(&kmmio_mutex);
	if (get_kmmio_probe(p->addr)) {
		ret = -EEXIST;
		goto out;
	}

	p->page_start = ULONG_MAX;
	ret = kmmio_walk_pages(p->addr, p->addr + p->len, kmmio_check_page,
			       p);
	if (ret)
		goto out;
	ret = kmmio_alias_create(p);
	if (ret)
		goto out;

	/* Before the pages: a fault on them needs the alias. */
	list_add_rcu(&p->list, &kmmio_probes);
	done = p->page_start;
	ret = kmmio_walk_pages(p->page_start, p->page_end,
			       add_kmmio_fault_page, &done);
	if (ret) {
		kmmio_walk_pages(p->page_start, done,
				 release_kmmio_fault_page, &release_list);
		list_del_rcu(&p->list);
		synchronize_rcu();
		kmmio_free_pages(release_list);
	}
out:
	mutex_unlock(&kmmio_mutex);

	if (ret) {
		if (p->alias)
			free_vm_area(p->alias);
		p->alias = NULL;
		static_branch_slow_dec_deferred(&kmmio_armed);
		return ret;
	}

	/* Until now, other CPUs may have used the page through their TLB. */
	flush_tlb_kernel_range(p->page_start, p->page_end);
	return 0;
}
EXPORT_SYMBOL(register_kmmio_probe);

/**
 * unregister_kmmio_probe() - Stop tracing a range
 * @p: a probe registered with register_kmmio_probe()
 *
 * Disarms the pages no other probe covers and waits until no CPU runs
 * @p->handler any more: when this returns, the handler is not called
 * again and @p may be freed.
 *
 * Context: process context, may sleep.
 */
void unregister_kmmio_probe(struct kmmio_probe *p)
{
	struct kmmio_fault_page *release_list = NULL;

	might_sleep();
	mutex_lock(&kmmio_mutex);
	/*
	 * Disarm the pages first: a fault on an armed page finds a probe
	 * whose alias can perform it, or, once the probe is gone, a
	 * disarmed page to retry on.
	 */
	kmmio_walk_pages(p->page_start, p->page_end,
			 release_kmmio_fault_page, &release_list);
	list_del_rcu(&p->list);

	/*
	 * Wait for the faults in flight: they may still use the alias, call
	 * the handler, or look the disarmed pages up.  Holding the mutex
	 * keeps the released pages from being taken again meanwhile.
	 */
	synchronize_rcu();
	kmmio_free_pages(release_list);
	mutex_unlock(&kmmio_mutex);
	free_vm_area(p->alias);
	p->alias = NULL;
	static_branch_slow_dec_deferred(&kmmio_armed);
}
EXPORT_SYMBOL(unregister_kmmio_probe);

/**
 * kmmio_read_stats() - The accounting of one CPU
 * @cpu: a possible CPU
 * @stats: where to store its counters
 *
 * The counters only grow; sum them over the possible CPUs for a total.
 */
void kmmio_read_stats(int cpu, struct kmmio_stats *stats)
{
	const struct kmmio_stats *s = per_cpu_ptr(&kmmio_stats, cpu);

	stats->traced = READ_ONCE(s->traced);
	stats->emulated = READ_ONCE(s->emulated);
	stats->stepped = READ_ONCE(s->stepped);
	stats->refused = READ_ONCE(s->refused);
	stats->dropped = READ_ONCE(s->dropped);
	stats->unarmed = READ_ONCE(s->unarmed);
}
EXPORT_SYMBOL_GPL(kmmio_read_stats);

/**
 * kmmio_read_fallback_ops() - The forms one CPU did not emulate
 * @cpu: a possible CPU
 * @ops: array of @n entries to fill
 * @n: its size
 *
 * Return: the number of entries filled, each an instruction's first three
 * bytes and how many accesses by it fell back to single-stepping or were
 * refused.  The first KMMIO_FALLBACK_OPS forms are told apart.
 */
int kmmio_read_fallback_ops(int cpu, struct kmmio_fallback_op *ops, int n)
{
	const struct kmmio_fallback_op *src = per_cpu(kmmio_fallback_op, cpu);
	int i;

	for (i = 0; i < min(n, KMMIO_FALLBACK_OPS); i++) {
		ops[i].count = READ_ONCE(src[i].count);
		if (!ops[i].count)
			break;
		ops[i].opcode = READ_ONCE(src[i].opcode);
	}
	return i;
}
EXPORT_SYMBOL_GPL(kmmio_read_fallback_ops);

/*
 * Mappings and the frontend.  ioremap() and iounmap() tell the core about
 * every mapping; the core keeps them in kmmio_mappings, so that a
 * frontend attaching later can trace what drivers mapped before it, and
 * passes them on to the attached frontend.  kmmio_map_mutex serialises
 * all of it: the frontend's callbacks never run concurrently, nor after
 * it has detached.  They are called through plain pointers: this is no
 * hot path.
 *
 * CPU hotplug callbacks may ioremap() (uncore MMIO boxes do), so
 * kmmio_map_mutex nests inside the CPU hotplug lock.  Nothing may take
 * that lock under kmmio_map_mutex: not a static call update, nor the
 * slow path of a static key.  An attached frontend therefore holds a
 * reference to the fault-path key, taken before the mutex, and the probes
 * its callbacks register and unregister under the mutex only take and
 * drop further references, which does not lock (kmmio_key_get()).
 */
struct kmmio_map_entry {
	struct list_head list;
	struct kmmio_mapping m;
};

static DEFINE_MUTEX(kmmio_map_mutex);
static LIST_HEAD(kmmio_mappings);
static const struct kmmio_frontend *kmmio_fe;

/* The PCI device and BAR that hold @phys, with a reference, or NULL. */
static struct pci_dev *kmmio_find_bar(resource_size_t phys, int *bar)
{
	struct pci_dev *pdev = NULL;
	int i;

	for_each_pci_dev(pdev) {
		for (i = 0; i < PCI_STD_NUM_BARS; i++) {
			const struct resource *r = pci_resource_n(pdev, i);

			if (resource_type(r) == IORESOURCE_MEM &&
			    r->start <= phys && phys <= r->end) {
				*bar = i;
				return pdev;	/* keeps the reference */
			}
		}
	}
	*bar = -1;
	return NULL;
}

void mmiotrace_ioremap(resource_size_t offset, unsigned long size,
		       void __iomem *addr)
{
	struct kmmio_map_entry *e;

	might_sleep();
	e = kzalloc_obj(*e, GFP_KERNEL);
	if (!e) {
		pr_err("mapping 0x%llx not recorded: out of memory\n",
		       (unsigned long long)offset);
		return;
	}
	e->m.phys = offset;
	e->m.size = size;
	e->m.virt = addr;
	e->m.pdev = kmmio_find_bar(offset, &e->m.bar);

	mutex_lock(&kmmio_map_mutex);
	list_add_tail(&e->list, &kmmio_mappings);
	if (kmmio_fe && kmmio_fe->map)
		kmmio_fe->map(kmmio_fe, &e->m, false);
	mutex_unlock(&kmmio_map_mutex);
}

void mmiotrace_iounmap(const void __iomem *addr)
{
	struct kmmio_map_entry *e, *found = NULL;

	might_sleep();
	mutex_lock(&kmmio_map_mutex);
	list_for_each_entry(e, &kmmio_mappings, list) {
		if (e->m.virt == addr) {
			found = e;
			list_del(&e->list);
			if (kmmio_fe && kmmio_fe->unmap)
				kmmio_fe->unmap(kmmio_fe, &e->m);
			break;
		}
	}
	mutex_unlock(&kmmio_map_mutex);
	if (found) {
		pci_dev_put(found->m.pdev);
		kfree(found);
	}
}

/**
 * kmmio_attach_frontend() - Receive the mappings from now on
 * @fe: the frontend; it must stay valid until kmmio_detach_frontend()
 *
 * First replays every live mapping to @fe->map with @existing set.
 *
 * Context: process context, may sleep.
 * Return: 0, -EBUSY if another frontend is attached, or -EPERM if the
 * kernel is locked down against MMIO tracing.
 */
int kmmio_attach_frontend(const struct kmmio_frontend *fe)
{
	struct kmmio_map_entry *e;
	int ret;

	ret = security_locked_down(LOCKDOWN_MMIOTRACE);
	if (ret)
		return ret;

	/* Outside kmmio_map_mutex: this may take the CPU hotplug lock. */
	static_branch_deferred_inc(&kmmio_armed);
	mutex_lock(&kmmio_map_mutex);
	if (kmmio_fe) {
		mutex_unlock(&kmmio_map_mutex);
		static_branch_slow_dec_deferred(&kmmio_armed);
		return -EBUSY;
	}
	kmmio_fe = fe;
	if (fe->map) {
		list_for_each_entry(e, &kmmio_mappings, list)
			fe->map(fe, &e->m, true);
	}
	mutex_unlock(&kmmio_map_mutex);
	return 0;
}
EXPORT_SYMBOL_GPL(kmmio_attach_frontend);

/**
 * kmmio_detach_frontend() - Stop receiving mappings
 * @fe: the attached frontend
 *
 * When this returns, no callback of @fe runs or will run: a module may
 * go away.  The frontend unregisters its probes itself.
 *
 * Context: process context, may sleep.
 */
void kmmio_detach_frontend(const struct kmmio_frontend *fe)
{
	bool attached;

	mutex_lock(&kmmio_map_mutex);
	attached = !WARN_ON_ONCE(kmmio_fe != fe);
	if (attached)
		kmmio_fe = NULL;
	mutex_unlock(&kmmio_map_mutex);
	if (attached)
		static_branch_slow_dec_deferred(&kmmio_armed);
}
EXPORT_SYMBOL_GPL(kmmio_detach_frontend);

/* /sys/kernel/debug/kmmio/stats: the accounting, per CPU and in total. */
static int kmmio_stats_show(struct seq_file *m, void *v)
{
	struct kmmio_fallback_op ops[KMMIO_FALLBACK_OPS];
	struct kmmio_stats s, sum = {};
	int cpu, i, n;

	seq_puts(m, "cpu traced emulated stepped refused dropped unarmed\n");
	for_each_possible_cpu(cpu) {
		kmmio_read_stats(cpu, &s);
		seq_printf(m, "%d %llu %llu %llu %llu %llu %llu\n", cpu,
			   s.traced, s.emulated, s.stepped, s.refused,
			   s.dropped, s.unarmed);
		sum.traced += s.traced;
		sum.emulated += s.emulated;
		sum.stepped += s.stepped;
		sum.refused += s.refused;
		sum.dropped += s.dropped;
		sum.unarmed += s.unarmed;
	}
	seq_printf(m, "all %llu %llu %llu %llu %llu %llu\n", sum.traced,
		   sum.emulated, sum.stepped, sum.refused, sum.dropped,
		   sum.unarmed);
	for_each_possible_cpu(cpu) {
		n = kmmio_read_fallback_ops(cpu, ops, ARRAY_SIZE(ops));
		for (i = 0; i < n; i++)
			seq_printf(m, "fallback cpu %d opcode %06x count %u\n",
				   cpu, ops[i].opcode, ops[i].count);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kmmio_stats);

static int __init kmmio_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("kmmio", NULL);

	debugfs_create_file("stats", 0400, dir, NULL, &kmmio_stats_fops);
	return 0;
}
late_initcall(kmmio_debugfs_init);

static int __init kmmio_init(void)
{
	int i;

	for (i = 0; i < KMMIO_PAGE_TABLE_SIZE; i++)
		INIT_LIST_HEAD(&kmmio_page_table[i]);
	return arch_kmmio_init();
}
core_initcall(kmmio_init);
