/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of kmmiotrace, the loadable MMIO tracer on the kmmio core
 * (arch/x86/mm/kmmiotrace_main.rs): one event per traced access, and one
 * per mapping that starts or stops being traced.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kmmio

#if !defined(_TRACE_KMMIO_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_KMMIO_H

#include <linux/tracepoint.h>

#define kmmio_show_op(op)					\
	__print_symbolic(op, { 1, "R" }, { 2, "W" }, { 5, "UNKNOWN" })

TRACE_EVENT(kmmio_access,
	    TP_PROTO(u32 map_id, u64 phys, u64 bar_off, const char *dev, s8 bar,
		     u8 op, u8 width, u64 value, u32 cpu, s32 pid,
		     unsigned long ip),
	    TP_ARGS(map_id, phys, bar_off, dev, bar, op, width, value, cpu,
		    pid, ip),
	    TP_STRUCT__entry(__field(u64, phys)
			     __field(u64, bar_off)
			     __field(u64, value)
			     __field(unsigned long, ip)
			     __field(u32, map_id)
			     __string(dev, dev)
			     __field(u32, cpu)
			     __field(s32, pid)
			     __field(s8, bar)
			     __field(u8, op)
			     __field(u8, width)),
	    TP_fast_assign(__entry->phys = phys;
			   __entry->bar_off = bar_off;
			   __entry->value = value;
			   __entry->ip = ip;
			   __entry->map_id = map_id;
			   __assign_str(dev);
			   __entry->cpu = cpu;
			   __entry->pid = pid;
			   __entry->bar = bar;
			   __entry->op = op;
			   __entry->width = width;),
	    TP_printk("%s width=%u phys=0x%llx dev=%s bar=%d off=0x%llx value=0x%llx cpu=%u pid=%d ip=0x%lx map=%u",
		      kmmio_show_op(__entry->op), __entry->width,
		      __entry->phys, __get_str(dev), __entry->bar, __entry->bar_off,
		      __entry->value, __entry->cpu, __entry->pid, __entry->ip,
		      __entry->map_id)
);

DECLARE_EVENT_CLASS(kmmio_mapping_class,
		    TP_PROTO(u32 map_id, u64 phys, u64 len, const char *dev,
			     s8 bar),
		    TP_ARGS(map_id, phys, len, dev, bar),
		    TP_STRUCT__entry(__field(u64, phys)
				     __field(u64, len)
				     __field(u32, map_id)
				     __string(dev, dev)
				     __field(s8, bar)),
		    TP_fast_assign(__entry->phys = phys;
				   __entry->len = len;
				   __entry->map_id = map_id;
				   __assign_str(dev);
				   __entry->bar = bar;),
		    TP_printk("map=%u phys=0x%llx len=0x%llx dev=%s bar=%d",
			      __entry->map_id, __entry->phys, __entry->len,
			      __get_str(dev), __entry->bar)
);

DEFINE_EVENT(kmmio_mapping_class, kmmio_map,
	     TP_PROTO(u32 map_id, u64 phys, u64 len, const char *dev, s8 bar),
	     TP_ARGS(map_id, phys, len, dev, bar)
);

DEFINE_EVENT(kmmio_mapping_class, kmmio_unmap,
	     TP_PROTO(u32 map_id, u64 phys, u64 len, const char *dev, s8 bar),
	     TP_ARGS(map_id, phys, len, dev, bar)
);

#endif /* _TRACE_KMMIO_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
