// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the kmmio core.
 *
 * A vmalloc()ed page stands in for an MMIO mapping: a probe on it makes
 * the page not present, so each access takes the kmmio fault path, is
 * emulated through the core's alias of the page and reported to the
 * probe's handler.  The tests check both what the handler sees (the
 * event a tracer writes into its trace) and the architectural result:
 * the memory and the registers as the CPU would have left them.  The
 * page's linear-map alias is used to set up and check its contents
 * without faulting.
 */

#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/cpufeature.h>
#include <linux/cpuhotplug.h>
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmiotrace.h>
#include <linux/pci.h>
#include <linux/pgtable.h>
#include <linux/sched/clock.h>
#include <linux/set_memory.h>
#include <linux/swab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/apic.h>
#include <asm/asm.h>
#include <asm/insn.h>
#include <asm/insn-eval.h>
#include <asm/nmi.h>

#include "kmmio.h"

MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");

#define KMMIO_TEST_MAX_HITS	128

struct kmmio_test_ctx {
	struct kmmio_probe probe;
	u8 *page;	/* the traced vmalloc mapping */
	unsigned long pages;
	struct page *pg[2];	/* its pages, looked up before arming */
	atomic_t calls;
	struct kmmio_access hits[KMMIO_TEST_MAX_HITS];
};

/* Called from the page fault handler, IRQs off: only record. */
static void kmmio_test_handler(struct kmmio_probe *p,
			       const struct kmmio_access *a)
{
	struct kmmio_test_ctx *ctx = p->private;
	int n = atomic_inc_return(&ctx->calls) - 1;

	if (n < KMMIO_TEST_MAX_HITS)
		ctx->hits[n] = *a;
}

static int kmmio_test_calls(struct kmmio_test_ctx *ctx)
{
	return atomic_read(&ctx->calls);
}

static struct kmmio_stats kmmio_test_stats(void)
{
	struct kmmio_stats sum = {}, s;
	int cpu;

	for_each_possible_cpu(cpu) {
		kmmio_read_stats(cpu, &s);
		sum.traced += s.traced;
		sum.emulated += s.emulated;
		sum.stepped += s.stepped;
		sum.refused += s.refused;
		sum.dropped += s.dropped;
		sum.unarmed += s.unarmed;
	}
	return sum;
}

/*
 * Byte @i of a fresh test page: below KMMIO_TEST_NEG every byte is below
 * 0x80, from there on every byte has its sign bit set.
 */
#define KMMIO_TEST_NEG	0x800

static u8 kmmio_test_pattern(unsigned int i)
{
	return i < KMMIO_TEST_NEG ? (i * 7 + 0x13) & 0x7f : 0x80 | (i * 5 + 0x21);
}

/* The byte at @off of the traced mapping, through the linear map. */
static u8 *kmmio_test_byte(struct kmmio_test_ctx *ctx, unsigned int off)
{
	return (u8 *)page_address(ctx->pg[off / PAGE_SIZE]) + offset_in_page(off);
}

static u64 kmmio_test_mem(struct kmmio_test_ctx *ctx, unsigned int off,
			  unsigned int width)
{
	u64 v = 0;
	unsigned int i;

	for (i = 0; i < width; i++)
		v |= (u64)*kmmio_test_byte(ctx, off + i) << (8 * i);
	return v;
}

/*
 * A probe on @len bytes at @offset of @pages vmalloc()ed pages filled with
 * the test pattern, made read-only before arming if @ro.
 */
static struct kmmio_test_ctx *kmmio_test_arm_mem(struct kunit *test,
						 unsigned long pages,
						 unsigned long offset,
						 unsigned long len, bool ro)
{
	struct kmmio_test_ctx *ctx;
	unsigned int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->pages = pages;
	ctx->page = vmalloc(pages * PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, ctx->page);
	for (i = 0; i < pages; i++)
		ctx->pg[i] = vmalloc_to_page(ctx->page + i * PAGE_SIZE);
	for (i = 0; i < pages * PAGE_SIZE; i++)
		*kmmio_test_byte(ctx, i) = kmmio_test_pattern(i % PAGE_SIZE);
	if (ro)
		KUNIT_ASSERT_EQ(test, set_memory_ro((unsigned long)ctx->page,
						    pages), 0);

	ctx->probe.addr = (unsigned long)ctx->page + offset;
	ctx->probe.len = len;
	ctx->probe.handler = kmmio_test_handler;
	ctx->probe.private = ctx;
	KUNIT_ASSERT_EQ(test, register_kmmio_probe(&ctx->probe), 0);
	return ctx;
}

static struct kmmio_test_ctx *kmmio_test_arm_pages(struct kunit *test,
						   unsigned long pages,
						   unsigned long offset,
						   unsigned long len)
{
	return kmmio_test_arm_mem(test, pages, offset, len, false);
}

static struct kmmio_test_ctx *kmmio_test_arm(struct kunit *test,
					     unsigned long offset,
					     unsigned long len)
{
	return kmmio_test_arm_pages(test, 1, offset, len);
}

static void kmmio_test_disarm(struct kmmio_test_ctx *ctx)
{
	unregister_kmmio_probe(&ctx->probe);
	vfree(ctx->page);
	ctx->page = NULL;
}

/*
 * Is the fault-path key on?  It goes off a second after the last probe:
 * run the pending switch now.
 */
static bool kmmio_test_active(void)
{
	static_key_deferred_flush(&kmmio_armed);
	return is_kmmio_active();
}

static bool kmmio_test_present(void *addr)
{
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)addr, &level);

	return pte && pte_present(*pte);
}

/*
 * The address of the accessing instruction of the form that ran last:
 * each form stores it just before that instruction (KMMIO_IP), so that
 * the reported IP can be compared with it.
 */
static unsigned long kmmio_test_ip;

#define KMMIO_IP	"lea 1f(%%rip), %%r11\n\tmovq %%r11, (%[ipp])\n1:\t"
#define KMMIO_IP_IN	\
	[ipp] "r" (&kmmio_test_ip)

/*
 * One function per instruction form.  @p is the traced address, *@r
 * receives the register a read loaded (zero- or sign-extended as the
 * instruction does).
 */
#define KMMIO_W(name, insn, ...)					\
static void name(void *p, unsigned long *r)				\
{									\
	asm volatile(KMMIO_IP insn					\
		     : : "r" (p), ##__VA_ARGS__, KMMIO_IP_IN		\
		     : "r11", "memory");				\
}

#define KMMIO_R(name, type, insn)					\
static void name(void *p, unsigned long *r)				\
{									\
	type v;								\
	asm volatile(KMMIO_IP insn : "=r" (v) : "r" (p), KMMIO_IP_IN	\
		     : "r11", "memory");				\
	*r = (unsigned long)v;						\
}

KMMIO_W(w_mov8, "movb %b1, (%0)", "q" (0x5aUL))
KMMIO_W(w_mov16, "movw %w1, (%0)", "r" (0x1234UL))
KMMIO_W(w_mov32, "movl %k1, (%0)", "r" (0x12345678UL))
KMMIO_W(w_mov64, "movq %1, (%0)", "r" (0x123456789abcdef0UL))
KMMIO_W(w_mov_ah, "movb %%ah, (%0)", "a" (0x7700UL))
KMMIO_W(w_mov_sil, "movb %%sil, (%0)", "S" (0x66UL))
KMMIO_W(w_mov32_disp8, "movl %k1, 0x10(%0)", "r" (0xcafe0010UL))
KMMIO_W(w_mov32_disp32, "movl %k1, 0x400(%0)", "r" (0xcafe0400UL))
KMMIO_W(w_mov32_sib, "movl %k2, (%0,%1,4)", "r" (2UL), "r" (0x0badf00dUL))
KMMIO_W(w_imm8, "movb $0xa5, (%0)")
KMMIO_W(w_imm16, "movw $0xbeef, (%0)")
KMMIO_W(w_imm32, "movl $0xdeadbeef, (%0)")
KMMIO_W(w_imm32_disp8, "movl $0x11223344, 0x20(%0)")
KMMIO_W(w_imm64_neg, "movq $-2, (%0)")
KMMIO_W(w_imm64_pos, "movq $0x7badbeef, (%0)")
KMMIO_W(w_imm32_sib, "movl $0x89abcdef, (%0,%1,8)", "r" (3UL))
KMMIO_W(w_imm8_sib_disp8, "movb $0x7e, 0x30(%0,%1,1)", "r" (4UL))
KMMIO_W(w_imm16_sib_disp32, "movw $0x4321, 0x200(%0,%1,2)", "r" (8UL))

static void w_mov_r9(void *p, unsigned long *r)
{
	register unsigned long r9 asm("r9") = 0x0123456789abcdefUL;

	asm volatile(KMMIO_IP "movq %%r9, (%0)"
		     : : "r" (p), "r" (r9), KMMIO_IP_IN : "r11", "memory");
}

KMMIO_R(r_mov8, u8, "movb (%1), %0")
KMMIO_R(r_mov16, u16, "movw (%1), %0")
KMMIO_R(r_mov32, u32, "movl (%1), %0")
KMMIO_R(r_mov64, u64, "movq (%1), %0")
KMMIO_R(r_movzbl, u32, "movzbl (%1), %0")
KMMIO_R(r_movzwl, u32, "movzwl (%1), %0")
KMMIO_R(r_movzbq, u64, "movzbq (%1), %0")
KMMIO_R(r_movsbl, u32, "movsbl (%1), %0")
KMMIO_R(r_movswl, u32, "movswl (%1), %0")
KMMIO_R(r_movsbq, u64, "movsbq (%1), %0")
KMMIO_R(r_movslq, u64, "movslq (%1), %0")

KMMIO_W(w_movnti32, "movnti %k1, (%0)", "r" (0x13572468UL))
KMMIO_W(w_movnti64, "movnti %1, (%0)", "r" (0x0123456789abcdefUL))
/* MOVBE: the device sees the register's bytes reversed. */
KMMIO_W(w_movbe16, "movbe %w1, (%0)", "r" (0x1234UL))
KMMIO_W(w_movbe32, "movbe %k1, (%0)", "r" (0x12345678UL))
KMMIO_W(w_movbe64, "movbe %1, (%0)", "r" (0x0123456789abcdefUL))
KMMIO_R(r_movbe32, u32, "movbe (%1), %0")
KMMIO_R(r_movbe64, u64, "movbe (%1), %0")

static void r_movbe16_merge(void *p, unsigned long *r)
{
	unsigned long v = 0x1111111111111111UL;

	asm volatile(KMMIO_IP "movbe (%1), %w0"
		     : "+r" (v) : "r" (p), KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

/* Narrow reads keep the rest of the register, 32-bit ones clear it. */
#define KMMIO_TEST_REG	0x1111111111111111UL

static void r_mov8_merge(void *p, unsigned long *r)
{
	unsigned long v = KMMIO_TEST_REG;

	asm volatile(KMMIO_IP "movb (%1), %b0"
		     : "+q" (v) : "r" (p), KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void r_mov16_merge(void *p, unsigned long *r)
{
	unsigned long v = KMMIO_TEST_REG;

	asm volatile(KMMIO_IP "movw (%1), %w0"
		     : "+r" (v) : "r" (p), KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void r_mov32_clear(void *p, unsigned long *r)
{
	unsigned long v = KMMIO_TEST_REG;

	asm volatile(KMMIO_IP "movl (%1), %k0"
		     : "+r" (v) : "r" (p), KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void r_mov_ah(void *p, unsigned long *r)
{
	unsigned long v = KMMIO_TEST_REG;

	asm volatile(KMMIO_IP "movb (%1), %%ah"
		     : "+a" (v) : "r" (p), KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void s_stosb(void *p, unsigned long *r)
{
	asm volatile(KMMIO_IP "stosb"
		     : "+D" (p) : "a" (0x3cUL), KMMIO_IP_IN : "r11", "memory");
}

static void s_stosl(void *p, unsigned long *r)
{
	asm volatile(KMMIO_IP "stosl"
		     : "+D" (p) : "a" (0x3c3d3e3fUL), KMMIO_IP_IN
		     : "r11", "memory");
}

static void s_stosq(void *p, unsigned long *r)
{
	asm volatile(KMMIO_IP "stosq"
		     : "+D" (p) : "a" (0x0102030405060708UL), KMMIO_IP_IN
		     : "r11", "memory");
}

/* MOVS from the traced page to the stack: a read of the page. */
static void s_movsl(void *p, unsigned long *r)
{
	u32 dst = 0;
	void *d = &dst;

	asm volatile(KMMIO_IP "movsl"
		     : "+S" (p), "+D" (d) : KMMIO_IP_IN : "r11", "memory");
	*r = dst;
}

/* LODS: AL and AX keep the rest of rAX, EAX clears it. */
static void s_lodsb(void *p, unsigned long *r)
{
	unsigned long v = 0x1111111111111111UL;

	asm volatile(KMMIO_IP "lodsb"
		     : "+S" (p), "+a" (v) : KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void s_lodsl(void *p, unsigned long *r)
{
	unsigned long v = 0x1111111111111111UL;

	asm volatile(KMMIO_IP "lodsl"
		     : "+S" (p), "+a" (v) : KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

static void s_lodsq(void *p, unsigned long *r)
{
	unsigned long v;

	asm volatile(KMMIO_IP "lodsq"
		     : "+S" (p), "=a" (v) : KMMIO_IP_IN : "r11", "memory");
	*r = v;
}

/* MOVS from the stack to the traced page: a write of the page. */
static void s_movsw_to(void *p, unsigned long *r)
{
	u16 src = 0x4e4f;
	void *s = &src;

	asm volatile(KMMIO_IP "movsw"
		     : "+S" (s), "+D" (p) : KMMIO_IP_IN : "r11", "memory");
}

enum kmmio_test_ext {
	EXT_ZERO,	/* zero-extended into the register */
	EXT_SIGN,	/* sign-extended */
	EXT_MERGE,	/* merged into KMMIO_TEST_REG */
	EXT_AH,		/* merged into bits 8-15 of KMMIO_TEST_REG */
	EXT_SWAP,	/* bytes reversed (MOVBE), zero-extended */
	EXT_SWAP_MERGE,	/* bytes reversed, merged into KMMIO_TEST_REG */
};

struct kmmio_insn_case {
	const char *name;
	void (*run)(void *p, unsigned long *r);
	unsigned int disp;		/* offset the insn adds to p */
	unsigned char type;		/* MMIO_READ or MMIO_WRITE */
	unsigned int width;		/* reported (= memory) width */
	unsigned long value;		/* reported value of a write */
	unsigned int reg_width;		/* register a read/MOVS loads */
	enum kmmio_test_ext ext;	/* and how it extends the value */
	unsigned int where;		/* p's offset from KMMIO_TEST_OFF */
	bool movbe;			/* needs X86_FEATURE_MOVBE */
};

static const struct kmmio_insn_case kmmio_insn_cases[] = {
	{ "mov r8 to m", w_mov8, 0, MMIO_WRITE, 1, 0x5a },
	{ "mov r16 to m", w_mov16, 0, MMIO_WRITE, 2, 0x1234 },
	{ "mov r32 to m", w_mov32, 0, MMIO_WRITE, 4, 0x12345678 },
	{ "mov r64 to m", w_mov64, 0, MMIO_WRITE, 8, 0x123456789abcdef0 },
	{ "mov ah to m", w_mov_ah, 0, MMIO_WRITE, 1, 0x77 },
	{ "mov sil to m (REX)", w_mov_sil, 0, MMIO_WRITE, 1, 0x66 },
	{ "mov r9 to m (REX.R)", w_mov_r9, 0, MMIO_WRITE, 8,
	  0x0123456789abcdef },
	{ "mov r32 to m, disp8", w_mov32_disp8, 0x10, MMIO_WRITE, 4,
	  0xcafe0010 },
	{ "mov r32 to m, disp32", w_mov32_disp32, 0x400, MMIO_WRITE, 4,
	  0xcafe0400 },
	{ "mov r32 to m, SIB", w_mov32_sib, 8, MMIO_WRITE, 4, 0x0badf00d },
	{ "mov imm8 to m", w_imm8, 0, MMIO_WRITE, 1, 0xa5 },
	{ "mov imm16 to m", w_imm16, 0, MMIO_WRITE, 2, 0xbeef },
	{ "mov imm32 to m", w_imm32, 0, MMIO_WRITE, 4, 0xdeadbeef },
	{ "mov imm32 to m, disp8", w_imm32_disp8, 0x20, MMIO_WRITE, 4,
	  0x11223344 },
	{ "mov imm32 to m64 (REX.W), negative", w_imm64_neg, 0, MMIO_WRITE, 8,
	  0xfffffffffffffffe },
	{ "mov imm32 to m64 (REX.W), positive", w_imm64_pos, 0, MMIO_WRITE, 8,
	  0x7badbeef },
	{ "mov imm32 to m, SIB", w_imm32_sib, 24, MMIO_WRITE, 4, 0x89abcdef },
	{ "mov imm8 to m, SIB+disp8", w_imm8_sib_disp8, 0x34, MMIO_WRITE, 1,
	  0x7e },
	{ "mov imm16 to m, SIB+disp32", w_imm16_sib_disp32, 0x210, MMIO_WRITE,
	  2, 0x4321 },
	{ "mov m to r8", r_mov8, 0, MMIO_READ, 1, 0, 1, EXT_ZERO },
	{ "mov m to r16", r_mov16, 0, MMIO_READ, 2, 0, 2, EXT_ZERO },
	{ "mov m to r32", r_mov32, 0, MMIO_READ, 4, 0, 4, EXT_ZERO },
	{ "mov m to r64", r_mov64, 0, MMIO_READ, 8, 0, 8, EXT_ZERO },
	{ "movzbl", r_movzbl, 0, MMIO_READ, 1, 0, 4, EXT_ZERO },
	{ "movzwl", r_movzwl, 0, MMIO_READ, 2, 0, 4, EXT_ZERO },
	{ "movzbq", r_movzbq, 0, MMIO_READ, 1, 0, 8, EXT_ZERO },
	{ "movsbl, positive", r_movsbl, 0, MMIO_READ, 1, 0, 4, EXT_SIGN },
	{ "movswl, positive", r_movswl, 0, MMIO_READ, 2, 0, 4, EXT_SIGN },
	{ "movsbl, negative", r_movsbl, 0, MMIO_READ, 1, 0, 4, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "movswl, negative", r_movswl, 0, MMIO_READ, 2, 0, 4, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "movsbq, negative", r_movsbq, 0, MMIO_READ, 1, 0, 8, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "stosb", s_stosb, 0, MMIO_WRITE, 1, 0x3c },
	{ "stosl", s_stosl, 0, MMIO_WRITE, 4, 0x3c3d3e3f },
	{ "stosq", s_stosq, 0, MMIO_WRITE, 8, 0x0102030405060708 },
	{ "movslq, positive", r_movslq, 0, MMIO_READ, 4, 0, 8, EXT_SIGN },
	{ "movslq, negative", r_movslq, 0, MMIO_READ, 4, 0, 8, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "mov m to r8 keeps bits 8-63", r_mov8_merge, 0, MMIO_READ, 1, 0, 1,
	  EXT_MERGE },
	{ "mov m to r16 keeps bits 16-63", r_mov16_merge, 0, MMIO_READ, 2, 0,
	  2, EXT_MERGE },
	{ "mov m to r32 clears bits 32-63", r_mov32_clear, 0, MMIO_READ, 4, 0,
	  4, EXT_ZERO },
	{ "mov m to ah", r_mov_ah, 0, MMIO_READ, 1, 0, 1, EXT_AH },
	{ "movsl, m to stack", s_movsl, 0, MMIO_READ, 4, 0, 4, EXT_ZERO },
	{ "movsw, stack to m", s_movsw_to, 0, MMIO_WRITE, 2, 0x4e4f },
	{ "movnti r32 to m", w_movnti32, 0, MMIO_WRITE, 4, 0x13572468 },
	{ "movnti r64 to m", w_movnti64, 0, MMIO_WRITE, 8, 0x0123456789abcdef },
	{ "movbe r16 to m", w_movbe16, 0, MMIO_WRITE, 2, 0x3412,
	  .movbe = true },
	{ "movbe r32 to m", w_movbe32, 0, MMIO_WRITE, 4, 0x78563412,
	  .movbe = true },
	{ "movbe r64 to m", w_movbe64, 0, MMIO_WRITE, 8, 0xefcdab8967452301,
	  .movbe = true },
	{ "movbe m to r16 keeps bits 16-63", r_movbe16_merge, 0, MMIO_READ, 2,
	  0, 2, EXT_SWAP_MERGE, .movbe = true },
	{ "movbe m to r32", r_movbe32, 0, MMIO_READ, 4, 0, 4, EXT_SWAP,
	  .movbe = true },
	{ "movbe m to r64, negative", r_movbe64, 0, MMIO_READ, 8, 0, 8,
	  EXT_SWAP, KMMIO_TEST_NEG, .movbe = true },
	{ "lodsb keeps bits 8-63", s_lodsb, 0, MMIO_READ, 1, 0, 1, EXT_MERGE },
	{ "lodsl clears bits 32-63", s_lodsl, 0, MMIO_READ, 4, 0, 4, EXT_ZERO },
	{ "lodsq", s_lodsq, 0, MMIO_READ, 8, 0, 8, EXT_ZERO },
};

static void kmmio_insn_case_desc(const struct kmmio_insn_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kmmio_insn, kmmio_insn_cases, kmmio_insn_case_desc);

/* Offset of the access in the test page; patterns differ per offset. */
#define KMMIO_TEST_OFF	0x100

static u64 kmmio_test_extend(u64 v, unsigned int from, unsigned int to,
			     enum kmmio_test_ext ext)
{
	if (ext == EXT_SWAP || ext == EXT_SWAP_MERGE) {
		v = swab64(v) >> (64 - from * 8);
		ext = ext == EXT_SWAP ? EXT_ZERO : EXT_MERGE;
	}
	if (ext == EXT_MERGE)
		return (KMMIO_TEST_REG & ~GENMASK_ULL(from * 8 - 1, 0)) | v;
	if (ext == EXT_AH)
		return (KMMIO_TEST_REG & ~GENMASK_ULL(15, 8)) | v << 8;
	if (ext == EXT_SIGN && from < 8)
		v = sign_extend64(v, from * 8 - 1);
	return to < 8 ? v & GENMASK_ULL(to * 8 - 1, 0) : v;
}

/*
 * Every instruction form the emulator handles: the access really happens
 * (memory or register as the CPU would have it), exactly once, and the
 * handler sees the address, the direction, the width and the value.
 */
static void kmmio_test_insn(struct kunit *test)
{
	const struct kmmio_insn_case *c = test->param_value;
	unsigned int off = KMMIO_TEST_OFF + c->where + c->disp;
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	struct kmmio_test_ctx *ctx;
	const struct kmmio_access *a;
	unsigned long reg = 0;
	u64 before;
	int cpu;

	if (c->movbe && !boot_cpu_has(X86_FEATURE_MOVBE))
		kunit_skip(test, "the CPU has no MOVBE (QEMU: -cpu ...,+movbe)");
	ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	before = kmmio_test_mem(ctx, off, 8);

	preempt_disable();
	cpu = smp_processor_id();
	c->run(ctx->page + KMMIO_TEST_OFF + c->where, &reg);
	preempt_enable();
	s1 = kmmio_test_stats();

	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 1);
	a = &ctx->hits[0];
	KUNIT_EXPECT_PTR_EQ(test, (void *)a->addr, (void *)(ctx->page + off));
	KUNIT_EXPECT_EQ(test, a->phys,
			page_to_phys(ctx->pg[0]) + off);
	KUNIT_EXPECT_EQ(test, a->opcode, c->type);
	KUNIT_EXPECT_EQ(test, a->width, c->width);
	KUNIT_EXPECT_EQ(test, a->cpu, cpu);
	KUNIT_EXPECT_EQ(test, a->pid, task_pid_nr(current));
	KUNIT_EXPECT_NE(test, a->time, 0);
	/* The accessing instruction, not the one after it. */
	KUNIT_EXPECT_EQ(test, a->ip, kmmio_test_ip);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 1);
	KUNIT_EXPECT_EQ(test, s1.traced - s0.traced, 1);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);

	if (c->type == MMIO_WRITE) {
		KUNIT_EXPECT_EQ(test, a->value, c->value);
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off, c->width),
				(u64)c->value);
	} else {
		KUNIT_EXPECT_EQ(test, (u64)a->value,
				kmmio_test_mem(ctx, off, c->width));
		KUNIT_EXPECT_EQ(test, (u64)reg,
				kmmio_test_extend(kmmio_test_mem(ctx, off, c->width),
						  c->width, c->reg_width, c->ext));
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off, 8), before);
	}

	/* The page is still armed: nothing made it present. */
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	kmmio_test_disarm(ctx);
}

/* Arming makes the page not present; unregistering restores it. */
static void kmmio_test_register(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_probe dup = {
		.addr = ctx->probe.addr,
		.len = PAGE_SIZE,
	};
	void *page = ctx->page;

	KUNIT_EXPECT_FALSE(test, kmmio_test_present(page));
	KUNIT_EXPECT_TRUE(test, is_kmmio_active());
	KUNIT_EXPECT_EQ(test, register_kmmio_probe(&dup), -EEXIST);

	unregister_kmmio_probe(&ctx->probe);
	KUNIT_EXPECT_TRUE(test, kmmio_test_present(page));
	KUNIT_EXPECT_FALSE(test, kmmio_test_active());

	/* Disarmed: no more handler calls. */
	WRITE_ONCE(*(u32 *)page, 1);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 0);
	vfree(page);
}

/*
 * REP STOS: one event per element, in order, also past the iterations
 * that one fault emulates (KMMIO_STRING_BATCH, 64).
 */
#define KMMIO_TEST_STOS_N	100

static void kmmio_test_rep_stos(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	void *p = ctx->page + KMMIO_TEST_OFF;
	unsigned long n = KMMIO_TEST_STOS_N;
	int i;

	asm volatile(KMMIO_IP "rep stosl"
		     : "+D" (p), "+c" (n) : "a" (0x55aa55aaUL), KMMIO_IP_IN
		     : "r11", "memory");

	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), KMMIO_TEST_STOS_N);
	KUNIT_EXPECT_PTR_EQ(test, p, (void *)(ctx->page + KMMIO_TEST_OFF +
					      4 * KMMIO_TEST_STOS_N));
	KUNIT_EXPECT_EQ(test, n, 0);
	for (i = 0; i < KMMIO_TEST_STOS_N; i++) {
		KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->hits[i].addr,
				    (void *)(ctx->page + KMMIO_TEST_OFF + 4 * i));
		KUNIT_EXPECT_EQ(test, ctx->hits[i].width, 4);
		KUNIT_EXPECT_EQ(test, ctx->hits[i].ip, kmmio_test_ip);
		KUNIT_EXPECT_EQ(test, ctx->hits[i].value, 0x55aa55aaUL);
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF + 4 * i, 4),
				0x55aa55aaULL);
	}
	kmmio_test_disarm(ctx);
}

/*
 * REP STOS from the last 64 bytes of a traced page into a page no probe
 * covers: the 16 elements on the traced page are emulated and reported
 * in order, the CPU does the 24 others, unreported; every element lands.
 */
static void kmmio_test_rep_stos_out(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  PAGE_SIZE);
	unsigned int off = PAGE_SIZE - 64;
	void *p = ctx->page + off;
	unsigned long n = 40;
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	int i;

	asm volatile(KMMIO_IP "rep stosl"
		     : "+D" (p), "+c" (n) : "a" (0x3c3c5a5aUL), KMMIO_IP_IN
		     : "r11", "memory");
	s1 = kmmio_test_stats();

	KUNIT_EXPECT_EQ(test, n, 0);
	KUNIT_EXPECT_PTR_EQ(test, p, (void *)(ctx->page + off + 160));
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 16);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 16);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);
	for (i = 0; i < 16; i++)
		KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->hits[i].addr,
				    (void *)(ctx->page + off + 4 * i));
	for (i = 0; i < 40; i++)
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off + 4 * i, 4),
				0x3c3c5a5aULL);
	kmmio_test_disarm(ctx);
}

/*
 * A probe that starts inside a page (an ioremap() of an unaligned
 * address): accesses in its range are reported, accesses to the rest of
 * the armed page are executed but not reported.
 */
static void kmmio_test_unaligned_probe(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0x800, 0x100);
	unsigned long reg = 0;

	struct kmmio_stats s0 = kmmio_test_stats(), s1;

	r_mov32(ctx->page + 0x10, &reg);
	s1 = kmmio_test_stats();
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 0);
	KUNIT_EXPECT_EQ(test, s1.dropped - s0.dropped, 1);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 1);
	KUNIT_EXPECT_EQ(test, (u64)reg, kmmio_test_mem(ctx, 0x10, 4));
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));

	r_mov32(ctx->page + 0x880, &reg);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->hits[0].addr,
			    (void *)(ctx->page + 0x880));
	KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value,
			kmmio_test_mem(ctx, 0x880, 4));
	kmmio_test_disarm(ctx);
}

/*
 * Probes come and go while others stay armed: each access is reported
 * to exactly the probe that covers it, and a removed probe's page is
 * present again.
 */
static void kmmio_test_come_and_go(struct kunit *test)
{
	struct kmmio_test_ctx *stay = kmmio_test_arm(test, 0, PAGE_SIZE);
	unsigned long reg;
	int i;

	for (i = 0; i < 32; i++) {
		struct kmmio_test_ctx *go = kmmio_test_arm(test, 0, PAGE_SIZE);
		void *page = go->page;

		w_mov32(page, &reg);
		r_mov32(stay->page, &reg);
		KUNIT_EXPECT_EQ(test, kmmio_test_calls(go), 1);

		unregister_kmmio_probe(&go->probe);
		KUNIT_EXPECT_TRUE(test, kmmio_test_present(page));
		w_mov32(page, &reg);
		KUNIT_EXPECT_EQ(test, kmmio_test_calls(go), 1);
		vfree(page);
	}
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(stay), 32);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(stay->page));
	kmmio_test_disarm(stay);
	KUNIT_EXPECT_FALSE(test, kmmio_test_active());
}

/*
 * MOV with a 64-bit absolute address (moffs) cannot be written with a
 * run-time address in inline assembly: build the instruction bytes and
 * hand them to the emulator as the fault handler does.
 */
struct kmmio_moffs_case {
	const char *name;
	u8 prefix;		/* 0 or REX.W */
	u8 opcode;
	unsigned int width;
	unsigned char type;
};

static const struct kmmio_moffs_case kmmio_moffs_cases[] = {
	{ "mov moffs to al", 0, 0xa0, 1, MMIO_READ },
	{ "mov moffs to eax", 0, 0xa1, 4, MMIO_READ },
	{ "mov moffs to rax", 0x48, 0xa1, 8, MMIO_READ },
	{ "mov al to moffs", 0, 0xa2, 1, MMIO_WRITE },
	{ "mov eax to moffs", 0, 0xa3, 4, MMIO_WRITE },
	{ "mov rax to moffs", 0x48, 0xa3, 8, MMIO_WRITE },
};

static void kmmio_moffs_case_desc(const struct kmmio_moffs_case *c,
				  char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kmmio_moffs, kmmio_moffs_cases, kmmio_moffs_case_desc);

static void kmmio_test_moffs(struct kunit *test)
{
	const struct kmmio_moffs_case *c = test->param_value;
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	unsigned long addr = (unsigned long)ctx->page + KMMIO_TEST_OFF;
	const unsigned long ax = 0xfedcba9876543210UL;
	struct pt_regs regs = { .ax = ax, .ip = 0x1000 };
	u8 buf[MAX_INSN_SIZE] = {}, *b = buf;
	u64 mem = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 8);
	struct insn insn;
	int ret;

	if (c->prefix)
		*b++ = c->prefix;
	*b++ = c->opcode;
	memcpy(b, &addr, sizeof(addr));
	b += sizeof(addr);
	KUNIT_ASSERT_EQ(test, insn_decode(&insn, buf, b - buf, INSN_MODE_64),
			0);

	local_irq_disable();
	rcu_read_lock_sched();
	ret = kmmio_emulate_insn(&regs, &insn, 0);
	rcu_read_unlock_sched();
	local_irq_enable();

	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, regs.ip, 0x1000 + (unsigned long)(b - buf));
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].addr, addr);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].ip, 0x1000UL);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, c->type);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].width, c->width);
	if (c->type == MMIO_READ) {
		u64 v = kmmio_test_mem(ctx, KMMIO_TEST_OFF, c->width);

		KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value, v);
		/* AL keeps the rest of RAX, EAX clears the upper half. */
		KUNIT_EXPECT_EQ(test, (u64)regs.ax,
				c->width == 1 ? (ax & ~0xffUL) | v : v);
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 8),
				mem);
	} else {
		u64 v = c->width == 8 ? ax : ax & GENMASK_ULL(c->width * 8 - 1, 0);

		KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value, v);
		KUNIT_EXPECT_EQ(test,
				kmmio_test_mem(ctx, KMMIO_TEST_OFF, c->width), v);
		KUNIT_EXPECT_EQ(test, regs.ax, ax);
	}
	kmmio_test_disarm(ctx);
}

/*
 * Read-modify-write forms: each runs once on RAM, natively, and once on
 * the traced page, from the same contents, registers and flags; memory,
 * registers and the arithmetic flags must come out the same, and the
 * traced run must report the read and, if the form writes, the write.
 */
#define KMMIO_TEST_ARITH	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
				 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

struct kmmio_rmw_regs {
	unsigned long reg;	/* %rcx, the register operand */
	unsigned long ax;
	unsigned long flags;	/* RFLAGS in and out */
};

/*
 * Operands: %[p] the memory address (%rsi: no REX prefix, so that %ah can
 * be the other operand), %[reg] (%rcx), %[ax] (%rax).
 */
#define KMMIO_RMW(name, insn)						\
static void name(void *p, struct kmmio_rmw_regs *r)			\
{									\
	unsigned long fl = r->flags, reg = r->reg, ax = r->ax;		\
									\
	asm volatile("push %[fl]\n\tpopf\n\t" KMMIO_IP insn		\
		     "\n\tpushf\n\tpop %[fl]"				\
		     : [fl] "+r" (fl), [reg] "+c" (reg), [ax] "+a" (ax)	\
		     : [p] "S" (p), KMMIO_IP_IN				\
		     : "r11", "memory");				\
	r->flags = fl;							\
	r->reg = reg;							\
	r->ax = ax;							\
}

KMMIO_RMW(rmw_add_r32, "addl %k[reg], (%[p])")
KMMIO_RMW(rmw_add_to_r32, "addl (%[p]), %k[reg]")
KMMIO_RMW(rmw_or_r8, "orb %b[reg], (%[p])")
KMMIO_RMW(rmw_adc_r64, "adcq %[reg], (%[p])")
KMMIO_RMW(rmw_sbb_imm8_m16, "sbbw $3, (%[p])")
KMMIO_RMW(rmw_and_imm32, "andl $0x0ff00ff0, (%[p])")
KMMIO_RMW(rmw_sub_imm8_m64, "subq $-2, 8(%[p])")
KMMIO_RMW(rmw_xor_to_ah, "xorb (%[p]), %%ah")
KMMIO_RMW(rmw_sub_to_r16, "subw (%[p]), %w[reg]")
KMMIO_RMW(rmw_cmp_imm32, "cmpl $0x12345678, (%[p])")
KMMIO_RMW(rmw_cmp_r64, "cmpq %[reg], (%[p])")
KMMIO_RMW(rmw_cmp_to_r8, "cmpb (%[p]), %b[reg]")
KMMIO_RMW(rmw_test_imm16, "testw $0x8001, (%[p])")
KMMIO_RMW(rmw_test_r8, "testb %b[reg], (%[p])")
KMMIO_RMW(rmw_inc_m32, "incl (%[p])")
KMMIO_RMW(rmw_dec_m8, "decb (%[p])")
KMMIO_RMW(rmw_not_m64, "notq (%[p])")
KMMIO_RMW(rmw_neg_m16, "negw (%[p])")
KMMIO_RMW(rmw_xadd_r32, "xaddl %k[reg], (%[p])")
KMMIO_RMW(rmw_cmpxchg_r32, "cmpxchgl %k[reg], (%[p])")
KMMIO_RMW(rmw_cmpxchg_r8, "cmpxchgb %b[reg], (%[p])")
KMMIO_RMW(rmw_bt_r32, "btl %k[reg], (%[p])")
KMMIO_RMW(rmw_bts_imm_m64, "btsq $63, (%[p])")
KMMIO_RMW(rmw_btr_r16, "btrw %w[reg], (%[p])")
KMMIO_RMW(rmw_btc_imm_m32, "btcl $7, (%[p])")
KMMIO_RMW(rmw_btc_r64, "btcq %[reg], (%[p])")
KMMIO_RMW(rmw_lock_add_r32, "lock addl %k[reg], (%[p])")
KMMIO_RMW(rmw_lock_or_imm8, "lock orb $0x81, (%[p])")
KMMIO_RMW(rmw_lock_dec_m16, "lock decw (%[p])")
KMMIO_RMW(rmw_lock_xadd_r64, "lock xaddq %[reg], (%[p])")
KMMIO_RMW(rmw_lock_cmpxchg_r32, "lock cmpxchgl %k[reg], (%[p])")
KMMIO_RMW(rmw_lock_bts_r32, "lock btsl %k[reg], (%[p])")
KMMIO_RMW(rmw_xchg_r32, "xchgl %k[reg], (%[p])")
KMMIO_RMW(rmw_xchg_r8, "xchgb %b[reg], (%[p])")
KMMIO_RMW(rmw_rol_imm_m32, "roll $8, (%[p])")
KMMIO_RMW(rmw_ror_1_m8, "rorb $1, (%[p])")
KMMIO_RMW(rmw_rcl_1_m16, "rclw $1, (%[p])")
KMMIO_RMW(rmw_rcr_cl_m64, "rcrq %%cl, (%[p])")
KMMIO_RMW(rmw_shl_cl_m32, "shll %%cl, (%[p])")
KMMIO_RMW(rmw_shl_1_m64, "shlq $1, (%[p])")
KMMIO_RMW(rmw_shr_imm_m64, "shrq $60, (%[p])")
KMMIO_RMW(rmw_sar_1_m8, "sarb $1, (%[p])")
KMMIO_RMW(rmw_sar_cl_m16, "sarw %%cl, (%[p])")

struct kmmio_rmw_case {
	const char *name;
	void (*run)(void *p, struct kmmio_rmw_regs *r);
	unsigned int width;	/* of the access */
	int off;		/* of the access from p */
	bool writes;
	unsigned long reg;	/* %rcx on entry */
	unsigned long flags;	/* arithmetic flags on entry */
	bool ax_is_mem;		/* %rax on entry: the memory operand */
};

static const struct kmmio_rmw_case kmmio_rmw_cases[] = {
	{ "add r32 to m", rmw_add_r32, 4, 0, true, 0x80000001 },
	{ "add m to r32", rmw_add_to_r32, 4, 0, false, 0xffffff00 },
	{ "or r8 to m", rmw_or_r8, 1, 0, true, 0x81 },
	{ "adc r64 to m, CF set", rmw_adc_r64, 8, 0, true,
	  0x7fffffffffffffff, X86_EFLAGS_CF },
	{ "sbb imm8 from m16, CF set", rmw_sbb_imm8_m16, 2, 0, true, 0,
	  X86_EFLAGS_CF },
	{ "and imm32 to m32", rmw_and_imm32, 4, 0, true },
	{ "sub imm8 from m64, disp8", rmw_sub_imm8_m64, 8, 8, true },
	{ "xor m to ah", rmw_xor_to_ah, 1, 0, false },
	{ "sub m from r16", rmw_sub_to_r16, 2, 0, false, 0x1111222233334444 },
	{ "cmp imm32 with m32", rmw_cmp_imm32, 4, 0, false },
	{ "cmp r64 with m", rmw_cmp_r64, 8, 0, false, 0x0102030405060708 },
	{ "cmp m with r8", rmw_cmp_to_r8, 1, 0, false, 0x13 },
	{ "test imm16 with m16", rmw_test_imm16, 2, 0, false },
	{ "test r8 with m", rmw_test_r8, 1, 0, false, 0x10 },
	{ "inc m32 keeps CF", rmw_inc_m32, 4, 0, true, 0, X86_EFLAGS_CF },
	{ "dec m8", rmw_dec_m8, 1, 0, true, 0, X86_EFLAGS_ZF },
	{ "not m64 keeps flags", rmw_not_m64, 8, 0, true, 0,
	  X86_EFLAGS_CF | X86_EFLAGS_OF },
	{ "neg m16", rmw_neg_m16, 2, 0, true },
	{ "xadd r32, m", rmw_xadd_r32, 4, 0, true, 0x10000001 },
	{ "cmpxchg r32, m, equal", rmw_cmpxchg_r32, 4, 0, true, 0xabcdef01,
	  0, true },
	{ "cmpxchg r32, m, not equal", rmw_cmpxchg_r32, 4, 0, true,
	  0xabcdef01 },
	{ "cmpxchg r8, m, equal", rmw_cmpxchg_r8, 1, 0, true, 0x5a, 0, true },
	{ "bt r32, m, bit 5", rmw_bt_r32, 4, 0, false, 5 },
	{ "bt r32, m, bit 100: the dword 12 bytes on", rmw_bt_r32, 4, 12,
	  false, 100 },
	{ "bts imm 63, m64", rmw_bts_imm_m64, 8, 0, true },
	{ "btr r16, m, bit -3: the word before", rmw_btr_r16, 2, -2, true,
	  0xfffd },
	{ "btc imm 7, m32", rmw_btc_imm_m32, 4, 0, true },
	{ "btc r64, m, bit -65: two qwords before", rmw_btc_r64, 8, -16, true,
	  -65UL },
	{ "lock add r32 to m", rmw_lock_add_r32, 4, 0, true, 0x7fffffff },
	{ "lock or imm8 to m8", rmw_lock_or_imm8, 1, 0, true },
	{ "lock dec m16", rmw_lock_dec_m16, 2, 0, true, 0, X86_EFLAGS_CF },
	{ "lock xadd r64, m", rmw_lock_xadd_r64, 8, 0, true, 0x1234 },
	{ "lock cmpxchg r32, m, equal", rmw_lock_cmpxchg_r32, 4, 0, true,
	  0x600dcafe, 0, true },
	{ "lock cmpxchg r32, m, not equal", rmw_lock_cmpxchg_r32, 4, 0, true,
	  0x600dcafe },
	{ "lock bts r32, m, bit 33", rmw_lock_bts_r32, 4, 4, true, 33 },
	{ "xchg r32, m (locked)", rmw_xchg_r32, 4, 0, true, 0xfeedface },
	{ "xchg r8, m (locked)", rmw_xchg_r8, 1, 0, true, 0x42 },
	{ "rol imm8, m32", rmw_rol_imm_m32, 4, 0, true },
	{ "ror 1, m8", rmw_ror_1_m8, 1, 0, true },
	{ "rcl 1, m16, CF set", rmw_rcl_1_m16, 2, 0, true, 0, X86_EFLAGS_CF },
	{ "rcr cl, m64, CF set", rmw_rcr_cl_m64, 8, 0, true, 3, X86_EFLAGS_CF },
	{ "shl cl, m32", rmw_shl_cl_m32, 4, 0, true, 9 },
	{ "shl cl 0, m32 keeps flags", rmw_shl_cl_m32, 4, 0, true, 0,
	  X86_EFLAGS_CF | X86_EFLAGS_ZF | X86_EFLAGS_OF },
	{ "shl cl 33, m32: the count masked to 1", rmw_shl_cl_m32, 4, 0, true,
	  33 },
	{ "shl 1, m64", rmw_shl_1_m64, 8, 0, true },
	{ "shr imm8, m64", rmw_shr_imm_m64, 8, 0, true },
	{ "sar 1, m8", rmw_sar_1_m8, 1, 0, true },
	{ "sar cl, m16", rmw_sar_cl_m16, 2, 0, true, 5 },
};

static void kmmio_rmw_case_desc(const struct kmmio_rmw_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kmmio_rmw, kmmio_rmw_cases, kmmio_rmw_case_desc);

/*
 * The decoders, on the bytes: insn_decode_mmio_more() finds the moves
 * insn_decode_mmio() leaves out, and insn_decode_mmio(), which TDX and
 * SEV-ES use, still fails on them, as it did before it had a sibling.
 */
struct kmmio_decode_case {
	const char *name;
	u8 bytes[MAX_INSN_SIZE];
	int len;
	enum insn_mmio_type mmio;	/* from insn_decode_mmio() */
	enum insn_mmio_type more;	/* from insn_decode_mmio_more() */
	int size;			/* and its size */
};

static const struct kmmio_decode_case kmmio_decode_cases[] = {
	{ "movslq (%rax), %rax", { 0x48, 0x63, 0x00 }, 3,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ_SIGN_EXTEND, 4 },
	{ "movsxd (%rax), %eax", { 0x63, 0x00 }, 2,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ, 4 },
	{ "mov moffs8, %al",
	  { 0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, 9,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ_MOFFS, 1 },
	{ "mov moffs32, %eax",
	  { 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, 9,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ_MOFFS, 4 },
	{ "mov %rax, moffs64",
	  { 0x48, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, 10,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_WRITE_MOFFS, 8 },
	{ "mov %ax, moffs16",
	  { 0x66, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11 }, 10,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_WRITE_MOFFS, 2 },
	{ "stosb", { 0xaa }, 1, INSN_MMIO_DECODE_FAILED, INSN_MMIO_STOS, 1 },
	{ "rep stosq", { 0xf3, 0x48, 0xab }, 3,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_STOS, 8 },
	{ "lodsb", { 0xac }, 1, INSN_MMIO_DECODE_FAILED, INSN_MMIO_LODS, 1 },
	{ "lodsw", { 0x66, 0xad }, 2,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_LODS, 2 },
	{ "movnti %eax, (%rax)", { 0x0f, 0xc3, 0x00 }, 3,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_WRITE, 4 },
	{ "movnti %r8, 8(%rax)", { 0x4c, 0x0f, 0xc3, 0x40, 0x08 }, 5,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_WRITE, 8 },
	{ "movbe (%rax), %eax", { 0x0f, 0x38, 0xf0, 0x00 }, 4,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ_SWAP, 4 },
	{ "movbe %ax, (%rax)", { 0x66, 0x0f, 0x38, 0xf1, 0x00 }, 5,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_WRITE_SWAP, 2 },
	{ "movbe (%rax), %rax", { 0x48, 0x0f, 0x38, 0xf0, 0x00 }, 5,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_READ_SWAP, 8 },
	/* Not these forms: */
	{ "crc32b (%rax), %eax", { 0xf2, 0x0f, 0x38, 0xf0, 0x00 }, 5,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_DECODE_FAILED, 0 },
	{ "vmovd %xmm0, (%rax)", { 0xc5, 0xf9, 0x7e, 0x00 }, 4,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_DECODE_FAILED, 0 },
	{ "roll $8, (%rax)", { 0xc1, 0x00, 0x08 }, 3,
	  INSN_MMIO_DECODE_FAILED, INSN_MMIO_DECODE_FAILED, 0 },
	/* insn_decode_mmio()'s own, which insn_decode_mmio_more() leaves: */
	{ "mov %eax, (%rax)", { 0x89, 0x00 }, 2,
	  INSN_MMIO_WRITE, INSN_MMIO_DECODE_FAILED, 0 },
	{ "movzbl (%rax), %eax", { 0x0f, 0xb6, 0x00 }, 3,
	  INSN_MMIO_READ_ZERO_EXTEND, INSN_MMIO_DECODE_FAILED, 0 },
	{ "movsl", { 0xa5 }, 1, INSN_MMIO_MOVS, INSN_MMIO_DECODE_FAILED, 0 },
};

static void kmmio_decode_case_desc(const struct kmmio_decode_case *c,
				   char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(kmmio_decode, kmmio_decode_cases, kmmio_decode_case_desc);

static void kmmio_test_decode_more(struct kunit *test)
{
	const struct kmmio_decode_case *c = test->param_value;
	struct insn insn;
	int size;

	KUNIT_ASSERT_EQ(test, insn_decode(&insn, c->bytes, c->len,
					  INSN_MODE_64), 0);
	KUNIT_ASSERT_EQ(test, insn.length, c->len);
	KUNIT_EXPECT_EQ(test, insn_decode_mmio(&insn, &size), c->mmio);
	KUNIT_EXPECT_EQ(test, insn_decode_mmio_more(&insn, &size), c->more);
	KUNIT_EXPECT_EQ(test, size, c->size);
}

/* RAM with the contents of the traced page around KMMIO_TEST_OFF. */
#define KMMIO_RMW_SPAN	64
#define KMMIO_RMW_BASE	(KMMIO_TEST_OFF - KMMIO_RMW_SPAN)

static void kmmio_rmw_run(const struct kmmio_rmw_case *c, void *p,
			  unsigned long ax, struct kmmio_rmw_regs *r)
{
	r->reg = c->reg;
	r->ax = ax;
	r->flags = (native_save_fl() & ~KMMIO_TEST_ARITH) | c->flags;
	preempt_disable();
	c->run(p, r);
	preempt_enable();
}

static void kmmio_test_rmw(struct kunit *test)
{
	const struct kmmio_rmw_case *c = test->param_value;
	unsigned int off = KMMIO_TEST_OFF + c->off;
	struct kmmio_stats s0, s1;
	struct kmmio_rmw_regs native, traced;
	struct kmmio_test_ctx *ctx;
	u8 ram[2 * KMMIO_RMW_SPAN];
	unsigned long ax = 0x5555555555555555UL;
	u64 before, after;
	unsigned int i;

	ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	for (i = 0; i < sizeof(ram); i++)
		ram[i] = *kmmio_test_byte(ctx, KMMIO_RMW_BASE + i);
	before = kmmio_test_mem(ctx, off, c->width);
	/* CMPXCHG that succeeds: the accumulator holds the operand. */
	if (c->ax_is_mem)
		ax = before;

	kmmio_rmw_run(c, ram + KMMIO_RMW_SPAN, ax, &native);
	s0 = kmmio_test_stats();
	kmmio_rmw_run(c, ctx->page + KMMIO_TEST_OFF, ax, &traced);
	s1 = kmmio_test_stats();
	after = kmmio_test_mem(ctx, off, c->width);

	/* As the CPU did it on RAM: memory, registers, flags. */
	for (i = 0; i < sizeof(ram); i++)
		KUNIT_EXPECT_EQ_MSG(test, *kmmio_test_byte(ctx, KMMIO_RMW_BASE + i),
				    ram[i], "byte at offset %#x",
				    KMMIO_RMW_BASE + i);
	KUNIT_EXPECT_EQ(test, traced.reg, native.reg);
	KUNIT_EXPECT_EQ(test, traced.ax, native.ax);
	KUNIT_EXPECT_EQ(test, traced.flags & KMMIO_TEST_ARITH,
			native.flags & KMMIO_TEST_ARITH);
	KUNIT_EXPECT_EQ(test, traced.flags & ~KMMIO_TEST_ARITH,
			native.flags & ~KMMIO_TEST_ARITH);

	/* One read, then the write if the form writes. */
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), c->writes ? 2 : 1);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, c->writes ? 2 : 1);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);
	for (i = 0; i < kmmio_test_calls(ctx); i++) {
		const struct kmmio_access *a = &ctx->hits[i];

		KUNIT_EXPECT_PTR_EQ(test, (void *)a->addr,
				    (void *)(ctx->page + off));
		KUNIT_EXPECT_EQ(test, a->opcode, i ? MMIO_WRITE : MMIO_READ);
		KUNIT_EXPECT_EQ(test, a->width, c->width);
		KUNIT_EXPECT_EQ(test, (u64)a->value, i ? after : before);
		KUNIT_EXPECT_EQ(test, a->ip, kmmio_test_ip);
	}
	if (c->writes)
		KUNIT_EXPECT_LE(test, ctx->hits[0].time, ctx->hits[1].time);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	kmmio_test_disarm(ctx);
}

/*
 * A read-modify-write form the emulator leaves alone: SHLD of the dword
 * by a byte, with the bytes shifted in taken from %edx.  With %edx the
 * dword's own value, that is a rotation by a byte: *@p becomes
 * rol32(@cur, 8).  Addressed by one register, it is single-stepped on the
 * alias, with the page armed.  Addressed by %rax as both base and index,
 * which kmmio_rebase() does not move, it is single-stepped on the page
 * (or refused, or stepped with the other CPUs stopped, as the policy
 * says).  Returns %rax after it.
 */
/* shldl $8, %edx, (%rax) */
#define KMMIO_TEST_ROL8		".byte 0x0f, 0xa4, 0x10, 0x08"
#define KMMIO_TEST_ROL8_OP	0x0fa410UL
/* shldl $8, %edx, (%rax,%rax,1) */
#define KMMIO_TEST_ROL8_PAGE	".byte 0x0f, 0xa4, 0x14, 0x00, 0x08"
#define KMMIO_TEST_ROL8_PAGE_OP	0x0fa414UL

static unsigned long kmmio_test_rol8(u32 *p, u32 cur)
{
	unsigned long a = (unsigned long)p;

	asm volatile(KMMIO_IP KMMIO_TEST_ROL8
		     : "+a" (a) : "d" (cur), KMMIO_IP_IN
		     : "r11", "memory", "cc");
	return a;
}

/* @p must be even: the address is twice %rax. */
static void kmmio_test_rol8_page(u32 *p, u32 cur)
{
	unsigned long a = (unsigned long)p / 2;

	asm volatile(KMMIO_IP KMMIO_TEST_ROL8_PAGE
		     : "+a" (a) : "d" (cur), KMMIO_IP_IN
		     : "r11", "memory", "cc");
}

/*
 * A read-modify-write form the emulator leaves alone: it is reported as
 * UNKNOWN with its bytes, counted, and single-stepped on the alias with
 * the right result and the register that addresses it restored; the page
 * is never made present.  With @on_page, the form that is stepped on the
 * page: it is armed again afterwards.
 */
static void kmmio_test_fallback_steps(struct kunit *test, bool on_page)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	u32 *p = (u32 *)(ctx->page + KMMIO_TEST_OFF);
	u32 before = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4);
	struct kmmio_fallback_op ops[KMMIO_FALLBACK_OPS];
	unsigned long op = on_page ? KMMIO_TEST_ROL8_PAGE_OP : KMMIO_TEST_ROL8_OP;
	unsigned long rax = (unsigned long)p;
	int cpu, n, i;
	bool found = false;

	preempt_disable();
	cpu = smp_processor_id();
	if (on_page)
		kmmio_test_rol8_page(p, before);
	else
		rax = kmmio_test_rol8(p, before);
	preempt_enable();
	s1 = kmmio_test_stats();

	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4),
			(u64)rol32(before, 8));
	KUNIT_EXPECT_EQ(test, rax, (unsigned long)p);
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_UNKNOWN_OP);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].width, 0);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].value, op);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].ip, kmmio_test_ip);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 1);
	KUNIT_EXPECT_EQ(test, s1.unarmed - s0.unarmed, on_page ? 1 : 0);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 0);

	n = kmmio_read_fallback_ops(cpu, ops, ARRAY_SIZE(ops));
	for (i = 0; i < n; i++)
		found |= ops[i].opcode == op && ops[i].count;
	KUNIT_EXPECT_TRUE(test, found);

	/* Armed (again): the next access is emulated. */
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	WRITE_ONCE(*p, 7);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 2);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4), 7);
	kmmio_test_disarm(ctx);
}

static void kmmio_test_fallback_step(struct kunit *test)
{
	kmmio_test_fallback_steps(test, false);
}

static void kmmio_test_fallback_step_page(struct kunit *test)
{
	kmmio_test_fallback_steps(test, true);
}

/*
 * The addressing forms kmmio_rebase() moves onto the alias, and those it
 * leaves on the page: a register the instruction also reads as data
 * (SHLD's source, MUL's %eax) is not moved, or the result would change.
 * Each must leave memory and registers as the CPU does on RAM.
 */
struct kmmio_rebase_regs {
	unsigned long ax, bx, cx, dx, r12;
};

enum kmmio_rebase_form {
	KMMIO_RB_BASE_INDEX,	/* shldl $8, %ebx, 8(%rdx,%rcx,4) */
	KMMIO_RB_INDEX,		/* shldl $8, %ebx, 0(,%rcx,4) */
	KMMIO_RB_R12,		/* shldl $8, %ebx, (%r12) */
	KMMIO_RB_BSF,		/* bsfl (%rax), %eax: writes its base */
	KMMIO_RB_SHLD,		/* shldl $8, %eax, (%rax): reads its base */
	KMMIO_RB_MUL,		/* mull (%rax): reads %eax */
	KMMIO_RB_N
};

static void kmmio_rebase_run(int form, struct kmmio_rebase_regs *r)
{
	register unsigned long r12 asm("r12") = r->r12;

	switch (form) {
	case KMMIO_RB_BASE_INDEX:
		asm volatile("shldl $8, %%ebx, 8(%%rdx,%%rcx,4)"
			     : "+d" (r->dx), "+c" (r->cx) : "b" (r->bx)
			     : "memory", "cc");
		break;
	case KMMIO_RB_INDEX:
		asm volatile("shldl $8, %%ebx, 0(,%%rcx,4)"
			     : "+c" (r->cx) : "b" (r->bx) : "memory", "cc");
		break;
	case KMMIO_RB_R12:
		asm volatile("shldl $8, %%ebx, (%%r12)"
			     : "+r" (r12) : "b" (r->bx) : "memory", "cc");
		break;
	case KMMIO_RB_BSF:
		asm volatile("bsfl (%%rax), %%eax"
			     : "+a" (r->ax) : : "memory", "cc");
		break;
	case KMMIO_RB_SHLD:
		asm volatile("shldl $8, %%eax, (%%rax)"
			     : "+a" (r->ax) : : "memory", "cc");
		break;
	case KMMIO_RB_MUL:
		asm volatile("mull (%%rax)"
			     : "+a" (r->ax), "=d" (r->dx) : : "memory", "cc");
		break;
	}
	r->r12 = r12;
}

static void kmmio_test_rebase(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	unsigned long p = (unsigned long)ctx->page + KMMIO_TEST_OFF;
	struct kmmio_rebase_regs r, want;
	struct kmmio_stats s0, s1;
	u32 m, m_want;
	int form;

	for (form = 0; form < KMMIO_RB_N; form++) {
		bool on_page = form == KMMIO_RB_SHLD || form == KMMIO_RB_MUL;

		m = (kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4) & ~0xffU) | 0x10;
		*(u32 *)kmmio_test_byte(ctx, KMMIO_TEST_OFF) = m;
		/* %ebx = m: the SHLD forms rotate m by a byte. */
		r = (struct kmmio_rebase_regs){ .ax = p, .bx = m,
						.dx = p - 8 - 12, .cx = 3,
						.r12 = p };
		if (form == KMMIO_RB_INDEX)
			r.cx = p / 4;
		want = r;
		m_want = rol32(m, 8);
		switch (form) {
		case KMMIO_RB_BSF:
			want.ax = __ffs(m);
			m_want = m;
			break;
		case KMMIO_RB_SHLD:
			m_want = m << 8 | (u32)p >> 24;
			break;
		case KMMIO_RB_MUL:
			want.ax = (u32)((u64)(u32)p * m);
			want.dx = ((u64)(u32)p * m) >> 32;
			m_want = m;
			break;
		}
		atomic_set(&ctx->calls, 0);
		s0 = kmmio_test_stats();
		kmmio_rebase_run(form, &r);
		s1 = kmmio_test_stats();

		KUNIT_EXPECT_EQ_MSG(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4),
				    (u64)m_want, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, r.ax, want.ax, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, r.cx, want.cx, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, r.dx, want.dx, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, r.r12, want.r12, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, kmmio_test_calls(ctx), 1, "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, s1.stepped - s0.stepped, 1,
				    "form %d", form);
		KUNIT_EXPECT_EQ_MSG(test, s1.unarmed - s0.unarmed,
				    (u64)on_page, "form %d", form);
		KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	}
	kmmio_test_disarm(ctx);
}

/*
 * roll $8 at KMMIO_TEST_OFF, refused: done once, reported as unknown, not
 * stepped, and the page no longer traced.  (Only an access that cannot
 * be stepped on the alias is refused.)
 */
static void kmmio_test_expect_refused(struct kunit *test,
				      struct kmmio_test_ctx *ctx, u32 before,
				      const struct kmmio_stats *s0,
				      const struct kmmio_stats *s1)
{
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4),
			(u64)rol32(before, 8));
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_UNKNOWN_OP);
	KUNIT_EXPECT_EQ(test, s1->refused - s0->refused, 1);
	KUNIT_EXPECT_EQ(test, s1->stepped - s0->stepped, 0);
	KUNIT_EXPECT_TRUE(test, kmmio_test_present(ctx->page));
}

/* The "refuse" policy: the page is no longer traced, the access done. */
static void kmmio_test_fallback_refuse(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	u32 *p = (u32 *)(ctx->page + KMMIO_TEST_OFF);
	u32 before = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4);
	int policy = kmmio_fallback_policy;

	WRITE_ONCE(kmmio_fallback_policy, KMMIO_FALLBACK_REFUSE);
	kmmio_test_rol8_page(p, before);
	WRITE_ONCE(kmmio_fallback_policy, policy);
	s1 = kmmio_test_stats();

	kmmio_test_expect_refused(test, ctx, before, &s0, &s1);
	WRITE_ONCE(*p, 7);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 1);
	kmmio_test_disarm(ctx);
}

/*
 * The "stop" policy on one CPU: the access is reported, stepped with the
 * right result and the page armed again; the APIC task priority that
 * masked interrupts for the step is restored.
 */
static void kmmio_test_fallback_stop(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	u32 *p = (u32 *)(ctx->page + KMMIO_TEST_OFF);
	u32 before = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4);
	int policy = kmmio_fallback_policy;
	u32 tpr0, tpr1;

	WRITE_ONCE(kmmio_fallback_policy, KMMIO_FALLBACK_STOP);
	preempt_disable();
	tpr0 = apic_read(APIC_TASKPRI);
	kmmio_test_rol8_page(p, before);
	tpr1 = apic_read(APIC_TASKPRI);
	preempt_enable();
	WRITE_ONCE(kmmio_fallback_policy, policy);
	s1 = kmmio_test_stats();

	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4),
			(u64)rol32(before, 8));
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_UNKNOWN_OP);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].value, KMMIO_TEST_ROL8_PAGE_OP);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 1);
	KUNIT_EXPECT_EQ(test, s1.unarmed - s0.unarmed, 1);
	KUNIT_EXPECT_EQ(test, s1.refused - s0.refused, 0);
	KUNIT_EXPECT_EQ(test, tpr1, tpr0);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	WRITE_ONCE(*p, 7);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 2);
	kmmio_test_disarm(ctx);
}

static struct kmmio_test_ctx *kmmio_nmi_ctx;
static u32 kmmio_nmi_cur;
static atomic_t kmmio_nmi_done;

static int kmmio_test_nmi(unsigned int type, struct pt_regs *regs)
{
	struct kmmio_test_ctx *ctx = READ_ONCE(kmmio_nmi_ctx);
	u32 *p;

	if (!ctx || atomic_read(&kmmio_nmi_done))
		return NMI_DONE;
	p = (u32 *)(ctx->page + KMMIO_TEST_OFF);
	asm volatile(KMMIO_TEST_ROL8
		     : : "a" (p), "d" (READ_ONCE(kmmio_nmi_cur))
		     : "memory", "cc");
	atomic_set(&kmmio_nmi_done, 1);
	return NMI_HANDLED;
}

/*
 * An access the emulator cannot do, from NMI context, while the code the
 * NMI interrupted holds kmmio_pte_lock: it is refused (the page no longer
 * traced, the access done, reported as unknown), without waiting for the
 * lock, which would never come.
 */
static void kmmio_test_nmi_lock_held(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	u32 before = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4);
	unsigned long flags, i;
	bool sent;

	KUNIT_ASSERT_EQ(test, register_nmi_handler(NMI_LOCAL, kmmio_test_nmi,
						   0, "kmmio_test"), 0);
	atomic_set(&kmmio_nmi_done, 0);
	WRITE_ONCE(kmmio_nmi_cur, before);
	WRITE_ONCE(kmmio_nmi_ctx, ctx);
	local_irq_save(flags);
	kmmio_test_pte_lock();
	sent = kmmio_test_self_nmi();
	/* The NMI comes at once; do not wait for ever if it does not. */
	for (i = 0; sent && !atomic_read(&kmmio_nmi_done) && i < (1UL << 28); i++)
		cpu_relax();
	kmmio_test_pte_unlock();
	local_irq_restore(flags);
	WRITE_ONCE(kmmio_nmi_ctx, NULL);
	unregister_nmi_handler(NMI_LOCAL, "kmmio_test");
	s1 = kmmio_test_stats();

	if (!sent) {
		kmmio_test_disarm(ctx);
		kunit_skip(test, "no local APIC to send an NMI with");
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&kmmio_nmi_done), 1);
	kmmio_test_expect_refused(test, ctx, before, &s0, &s1);
	kmmio_test_disarm(ctx);
}

/* An unaligned access across two pages of one probe: one access. */
static void kmmio_test_page_crossing(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  2 * PAGE_SIZE);
	unsigned int off = PAGE_SIZE - 2;
	unsigned long reg = 0;
	u64 v = kmmio_test_mem(ctx, off, 4);

	r_mov32(ctx->page + off, &reg);
	KUNIT_EXPECT_EQ(test, (u64)reg, v);
	w_mov32(ctx->page + off, &reg);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off, 4), 0x12345678ULL);

	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 2);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].width, 4);
	KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value, v);
	KUNIT_EXPECT_EQ(test, ctx->hits[1].opcode, MMIO_WRITE);
	KUNIT_EXPECT_EQ(test, ctx->hits[1].value, 0x12345678UL);
	KUNIT_EXPECT_EQ(test, ctx->hits[1].phys,
			page_to_phys(ctx->pg[0]) + off);
	kmmio_test_disarm(ctx);
}

/*
 * An access that begins on an untraced page and ends on a traced one
 * faults at the start of the traced page, not at its own address: it is
 * performed at its own address (single-stepped, as no alias covers it).
 * An aligned access at the start of the traced page is emulated.
 */
static void kmmio_test_page_crossing_in(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, PAGE_SIZE,
							  PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	unsigned int off = PAGE_SIZE - 2;
	unsigned long reg = 0;

	r_mov32(ctx->page + off, &reg);
	KUNIT_EXPECT_EQ(test, (u64)reg, kmmio_test_mem(ctx, off, 4));
	r_mov32(ctx->page + PAGE_SIZE, &reg);
	KUNIT_EXPECT_EQ(test, (u64)reg, kmmio_test_mem(ctx, PAGE_SIZE, 4));
	s1 = kmmio_test_stats();

	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 2);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_UNKNOWN_OP);
	KUNIT_EXPECT_EQ(test, ctx->hits[1].opcode, MMIO_READ);
	KUNIT_EXPECT_EQ(test, ctx->hits[1].addr,
			(unsigned long)ctx->page + PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, (u64)ctx->hits[1].value,
			kmmio_test_mem(ctx, PAGE_SIZE, 4));
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 1);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 1);
	kmmio_test_disarm(ctx);
}

/*
 * An access from a traced page into memory no probe covers cannot go
 * through an alias: it is single-stepped, reported as UNKNOWN.
 */
static void kmmio_test_page_crossing_out(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	unsigned int off = PAGE_SIZE - 2;
	unsigned long reg = 0;

	r_mov32(ctx->page + off, &reg);
	s1 = kmmio_test_stats();
	KUNIT_EXPECT_EQ(test, (u64)reg, kmmio_test_mem(ctx, off, 4));
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_UNKNOWN_OP);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 1);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	kmmio_test_disarm(ctx);
}

/*
 * The helpers drivers copy with: every access is reported once, in order,
 * the events cover the buffer exactly, and the copy is right.
 */
static void kmmio_test_check_copy(struct kunit *test,
				  struct kmmio_test_ctx *ctx, unsigned int off,
				  const u8 *expect, unsigned int len,
				  unsigned char type)
{
	unsigned long next = (unsigned long)ctx->page + off;
	unsigned int i, j, n = kmmio_test_calls(ctx);

	KUNIT_ASSERT_LE(test, n, KMMIO_TEST_MAX_HITS);
	for (i = 0; i < n; i++) {
		const struct kmmio_access *a = &ctx->hits[i];

		KUNIT_EXPECT_EQ(test, a->opcode, type);
		KUNIT_EXPECT_EQ(test, a->addr, next);
		for (j = 0; j < a->width; j++)
			KUNIT_EXPECT_EQ(test, (u8)(a->value >> (8 * j)),
					expect[a->addr + j - (unsigned long)ctx->page - off]);
		next += a->width;
	}
	KUNIT_EXPECT_EQ(test, next, (unsigned long)ctx->page + off + len);
}

#define KMMIO_COPY_LEN	61
#define KMMIO_COPY_OFF	(KMMIO_TEST_OFF + 3)

static void kmmio_test_memcpy_toio(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	u8 src[KMMIO_COPY_LEN];
	unsigned int i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = 0xa0 ^ i;
	memcpy_toio((void __iomem *)ctx->page + KMMIO_COPY_OFF, src,
		    sizeof(src));
	for (i = 0; i < sizeof(src); i++)
		KUNIT_EXPECT_EQ(test, *kmmio_test_byte(ctx, KMMIO_COPY_OFF + i),
				src[i]);
	kmmio_test_check_copy(test, ctx, KMMIO_COPY_OFF, src, sizeof(src),
			      MMIO_WRITE);
	kmmio_test_disarm(ctx);
}

static void kmmio_test_memcpy_fromio(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	u8 dst[KMMIO_COPY_LEN] = {}, mem[KMMIO_COPY_LEN];
	unsigned int i;

	for (i = 0; i < sizeof(mem); i++)
		mem[i] = *kmmio_test_byte(ctx, KMMIO_COPY_OFF + i);
	memcpy_fromio(dst, (void __iomem *)ctx->page + KMMIO_COPY_OFF,
		      sizeof(dst));
	KUNIT_EXPECT_MEMEQ(test, dst, mem, sizeof(dst));
	kmmio_test_check_copy(test, ctx, KMMIO_COPY_OFF, mem, sizeof(mem),
			      MMIO_READ);
	kmmio_test_disarm(ctx);
}

/*
 * memset() may store some bytes twice (an unaligned head is written with
 * one wide store, then the aligned rest): the events stay inside the
 * buffer, carry the fill value and together cover every byte.
 */
static void kmmio_test_memset_io(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	unsigned long start = (unsigned long)ctx->page + KMMIO_COPY_OFF;
	DECLARE_BITMAP(seen, KMMIO_COPY_LEN) = {};
	unsigned int i, j, n;

	memset_io((void __iomem *)start, 0x5c, KMMIO_COPY_LEN);
	for (i = 0; i < KMMIO_COPY_LEN; i++)
		KUNIT_EXPECT_EQ(test, *kmmio_test_byte(ctx, KMMIO_COPY_OFF + i),
				0x5c);

	n = kmmio_test_calls(ctx);
	KUNIT_ASSERT_LE(test, n, KMMIO_TEST_MAX_HITS);
	for (i = 0; i < n; i++) {
		const struct kmmio_access *a = &ctx->hits[i];

		KUNIT_EXPECT_EQ(test, a->opcode, MMIO_WRITE);
		KUNIT_EXPECT_GE(test, a->addr, start);
		KUNIT_ASSERT_LE(test, a->addr + a->width,
				start + KMMIO_COPY_LEN);
		for (j = 0; j < a->width; j++) {
			KUNIT_EXPECT_EQ(test, (u8)(a->value >> (8 * j)), 0x5c);
			__set_bit(a->addr - start + j, seen);
		}
	}
	KUNIT_EXPECT_TRUE(test, bitmap_full(seen, KMMIO_COPY_LEN));
	kmmio_test_disarm(ctx);
}

/* REP MOVS backwards (DF set) from the traced page. */
static void kmmio_test_rep_movs_backwards(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	u16 dst[4] = {};
	void *s = ctx->page + KMMIO_TEST_OFF + 6, *d = &dst[3];
	unsigned long n = 4;
	int i;

	asm volatile("std; rep movsw; cld"
		     : "+S" (s), "+D" (d), "+c" (n) : : "memory", "cc");
	KUNIT_EXPECT_EQ(test, n, 0);
	KUNIT_EXPECT_PTR_EQ(test, s, (void *)(ctx->page + KMMIO_TEST_OFF - 2));
	KUNIT_ASSERT_EQ(test, kmmio_test_calls(ctx), 4);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ(test, (u64)dst[i],
				kmmio_test_mem(ctx, KMMIO_TEST_OFF + 2 * i, 2));
		KUNIT_EXPECT_EQ(test, ctx->hits[i].addr,
				(unsigned long)ctx->page + KMMIO_TEST_OFF + 6 - 2 * i);
	}
	kmmio_test_disarm(ctx);
}

/*
 * MOVS from a traced page to user memory, as copy_to_user() from MMIO
 * does: the device is read once, the value lands in the user buffer, and
 * nothing falls back to a single step (which would read it again).
 */
static void kmmio_test_movs_to_user(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0, s1;
	void *s = ctx->page + KMMIO_TEST_OFF, *d;
	unsigned long uaddr;
	u32 got = 0;

	uaddr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			      MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, uaddr, 0, "could not map a user page");
	/* Present and writable: the emulator resolves, never faults it in. */
	KUNIT_ASSERT_EQ(test, put_user(0, (u32 __user *)uaddr), 0);

	s0 = kmmio_test_stats();
	d = (void *)uaddr;
	if (!user_access_begin((void __user *)uaddr, sizeof(u32)))
		KUNIT_FAIL_AND_ABORT(test, "user_access_begin() failed");
	asm volatile(KMMIO_IP "movsl"
		     : "+S" (s), "+D" (d) : KMMIO_IP_IN : "r11", "memory");
	user_access_end();
	s1 = kmmio_test_stats();

	KUNIT_ASSERT_EQ(test, get_user(got, (u32 __user *)uaddr), 0);
	KUNIT_EXPECT_EQ(test, (u64)got, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4));
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].opcode, MMIO_READ);
	KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value, (u64)got);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].ip, kmmio_test_ip);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 1);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);
	KUNIT_EXPECT_EQ(test, s1.refused - s0.refused, 0);
	KUNIT_EXPECT_PTR_EQ(test, d, (void *)(uaddr + 4));
	kmmio_test_disarm(ctx);
}

/*
 * MOVS from a traced page to kernel memory that is not writable: the
 * emulator must find that out before it reads the device.  It leaves
 * the instruction to the CPU, which reads once and faults on the store
 * (copy_to_kernel_nofault() would not see the read-only page: use a
 * read-only page with an exception table entry of our own).
 */
static void kmmio_test_movs_to_ro(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	void *s = ctx->page + KMMIO_TEST_OFF;
	u8 *ro = vmalloc(PAGE_SIZE);
	void *d;
	int err = -EFAULT;

	KUNIT_ASSERT_NOT_NULL(test, ro);
	memset(ro, 0xee, PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, set_memory_ro((unsigned long)ro, 1), 0);
	d = ro;
	asm volatile("1:	movsl\n"
		     "	movl $0, %[err]\n"
		     "2:\n"
		     _ASM_EXTABLE(1b, 2b)
		     : "+S" (s), "+D" (d), [err] "+r" (err) : : "memory");
	s1 = kmmio_test_stats();
	set_memory_rw((unsigned long)ro, 1);

	KUNIT_EXPECT_EQ(test, err, -EFAULT);
	KUNIT_EXPECT_EQ(test, ro[0], 0xee);
	/* Not emulated: the read was not done twice. */
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 0);
	vfree(ro);
	kmmio_test_disarm(ctx);
}

/* A probe on a page made read-only before arming. */
static struct kmmio_test_ctx *kmmio_test_arm_ro(struct kunit *test)
{
	return kmmio_test_arm_mem(test, 1, 0, PAGE_SIZE, true);
}

static void kmmio_test_disarm_ro(struct kmmio_test_ctx *ctx)
{
	unregister_kmmio_probe(&ctx->probe);
	set_memory_rw((unsigned long)ctx->page, 1);
	vfree(ctx->page);
	ctx->page = NULL;
}

/*
 * A write to a read-only traced page is not the tracer's to perform:
 * the emulator must not write through its alias (read-only too), the
 * fault goes to the normal fault path, and copy_to_kernel_nofault()
 * fails as it does on an untraced read-only page.  Reads are traced.
 */
static void kmmio_test_ro_write(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_ro(test);
	u32 want = kmmio_test_mem(ctx, 8, 4), v = ~want, r = 0;

	KUNIT_EXPECT_EQ(test, copy_to_kernel_nofault(ctx->page + 8, &v, 4),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 0);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, 8, 4), (u64)want);
	KUNIT_EXPECT_EQ(test, copy_from_kernel_nofault(&r, ctx->page + 8, 4), 0);
	KUNIT_EXPECT_EQ(test, r, want);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 1);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	kmmio_test_disarm_ro(ctx);
}

/*
 * bsfl (%rax,%rax,1), %ecx: a read the emulator leaves alone, and that is
 * not stepped on the alias.  @p must be even.
 */
static void kmmio_test_bsf(u32 *p)
{
	asm volatile("bsfl (%%rax,%%rax,1), %%ecx"
		     : : "a" ((unsigned long)p / 2) : "rcx", "memory", "cc");
}

/*
 * The same write after the "refuse" policy made the page present again:
 * a protection fault, which no retry cures.  The core must not claim it
 * (it used to retry for ever).
 */
static void kmmio_test_ro_write_refused(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_ro(test);
	int policy = kmmio_fallback_policy;
	u32 want = kmmio_test_mem(ctx, 8, 4), v = ~want;

	WRITE_ONCE(kmmio_fallback_policy, KMMIO_FALLBACK_REFUSE);
	kmmio_test_bsf((u32 *)ctx->page);
	WRITE_ONCE(kmmio_fallback_policy, policy);
	KUNIT_ASSERT_TRUE(test, kmmio_test_present(ctx->page));

	KUNIT_EXPECT_EQ(test, copy_to_kernel_nofault(ctx->page + 8, &v, 4),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, 8, 4), (u64)want);
	kmmio_test_disarm_ro(ctx);
}

static atomic_t kmmio_test_replayed;

static void kmmio_test_fe_count(const struct kmmio_frontend *fe,
				const struct kmmio_mapping *m, bool existing)
{
	if (existing)
		atomic_inc(&kmmio_test_replayed);
}

/*
 * A frontend's callbacks are optional: one without them attaches, sees
 * the live mappings replayed to nothing, and detaches.
 */
static void kmmio_test_frontend_no_callbacks(struct kunit *test)
{
	static const struct kmmio_frontend counting = {
		.map = kmmio_test_fe_count,
	};
	static const struct kmmio_frontend none = {};

	atomic_set(&kmmio_test_replayed, 0);
	KUNIT_ASSERT_EQ(test, kmmio_attach_frontend(&counting), 0);
	kmmio_detach_frontend(&counting);
	if (!atomic_read(&kmmio_test_replayed))
		kunit_skip(test, "no live mapping to replay");

	KUNIT_ASSERT_EQ(test, kmmio_attach_frontend(&none), 0);
	kmmio_detach_frontend(&none);
}

/*
 * Each probe has an alias of its pages: the same memory, mapped with the
 * protection the traced mapping had (so with its cache mode), accessed
 * without a fault and without a report.  It goes with the probe.
 */
static void kmmio_test_alias(struct kunit *test)
{
	const pteval_t bits = _PAGE_PRESENT | _PAGE_RW | _PAGE_NX |
			      _PAGE_CACHE_MASK;
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0x100, 0x200);
	unsigned int level;
	u8 *alias;
	pte_t *pte;

	KUNIT_ASSERT_NOT_NULL(test, ctx->probe.alias);
	KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->probe.page_start,
			    (void *)ctx->page);
	KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->probe.page_end,
			    (void *)(ctx->page + PAGE_SIZE));
	alias = ctx->probe.alias->addr;
	pte = lookup_address((unsigned long)alias, &level);
	KUNIT_ASSERT_NOT_NULL(test, pte);
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_4K);
	KUNIT_EXPECT_EQ(test, pte_pfn(*pte), page_to_pfn(ctx->pg[0]));
	KUNIT_EXPECT_EQ(test, pte_flags(*pte) & bits,
			pgprot_val(PAGE_KERNEL) & bits);

	KUNIT_EXPECT_EQ(test, READ_ONCE(alias[0x180]),
			kmmio_test_pattern(0x180));
	WRITE_ONCE(alias[0x180], 0x5a);
	KUNIT_EXPECT_EQ(test, *kmmio_test_byte(ctx, 0x180), 0x5a);
	KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), 0);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));

	kmmio_test_disarm(ctx);
	KUNIT_EXPECT_NULL(test, ctx->probe.alias);
}

/* An empty range, and one that wraps around, are refused. */
static void kmmio_test_bad_probes(struct kunit *test)
{
	struct kmmio_probe p = { .addr = (unsigned long)&p, .len = 0 };

	KUNIT_EXPECT_EQ(test, register_kmmio_probe(&p), -EINVAL);
	p.len = 16;
	p.addr = ULONG_MAX - 8;
	KUNIT_EXPECT_EQ(test, register_kmmio_probe(&p), -EINVAL);
	KUNIT_EXPECT_FALSE(test, kmmio_test_active());
}

static struct kunit_case kmmio_test_cases[] = {
	KUNIT_CASE(kmmio_test_register),
	KUNIT_CASE_PARAM(kmmio_test_insn, kmmio_insn_gen_params),
	KUNIT_CASE(kmmio_test_rep_stos),
	KUNIT_CASE(kmmio_test_rep_stos_out),
	KUNIT_CASE(kmmio_test_unaligned_probe),
	KUNIT_CASE(kmmio_test_come_and_go),
	KUNIT_CASE_PARAM(kmmio_test_moffs, kmmio_moffs_gen_params),
	KUNIT_CASE_PARAM(kmmio_test_rmw, kmmio_rmw_gen_params),
	KUNIT_CASE_PARAM(kmmio_test_decode_more, kmmio_decode_gen_params),
	KUNIT_CASE(kmmio_test_fallback_step),
	KUNIT_CASE(kmmio_test_fallback_step_page),
	KUNIT_CASE(kmmio_test_rebase),
	KUNIT_CASE(kmmio_test_fallback_refuse),
	KUNIT_CASE(kmmio_test_nmi_lock_held),
	KUNIT_CASE(kmmio_test_fallback_stop),
	KUNIT_CASE(kmmio_test_page_crossing),
	KUNIT_CASE(kmmio_test_page_crossing_out),
	KUNIT_CASE(kmmio_test_page_crossing_in),
	KUNIT_CASE(kmmio_test_memcpy_toio),
	KUNIT_CASE(kmmio_test_memcpy_fromio),
	KUNIT_CASE(kmmio_test_memset_io),
	KUNIT_CASE(kmmio_test_rep_movs_backwards),
	KUNIT_CASE(kmmio_test_bad_probes),
	KUNIT_CASE(kmmio_test_movs_to_user),
	KUNIT_CASE(kmmio_test_movs_to_ro),
	KUNIT_CASE(kmmio_test_ro_write),
	KUNIT_CASE(kmmio_test_ro_write_refused),
	KUNIT_CASE(kmmio_test_frontend_no_callbacks),
	KUNIT_CASE(kmmio_test_alias),
	{}
};

static struct kunit_suite kmmio_test_suite = {
	.name = "kmmio",
	.test_cases = kmmio_test_cases,
};

/*
 * SMP: these need more than one CPU online to test anything beyond the
 * single-CPU suite.  kunit.py's parser does not cope with the output of
 * several CPUs, so CI runs this suite in a boot with -smp 4 and
 * kunit.filter_glob=kmmio_smp (ci/kunit-smp).
 */
#define KMMIO_SMP_MAX	8

struct kmmio_smp_worker {
	struct kmmio_test_ctx *ctx;
	struct task_struct *task;
	u32 *slot;		/* this worker's word in the traced page */
	unsigned long limit;	/* accesses to do, 0: until stopped */
	unsigned long done;	/* accesses done */
	unsigned long bad;	/* reads that did not return the last write */
	atomic_t *finished;
};

static int kmmio_smp_workfn(void *data)
{
	struct kmmio_smp_worker *w = data;
	u32 v = (u32)(unsigned long)w->slot;

	while (!kthread_should_stop()) {
		if (w->limit && w->done >= w->limit) {
			usleep_range(1000, 2000);
			continue;
		}
		v = v * 1103515245 + 12345;
		writel(v, (void __iomem *)w->slot);
		if (readl((void __iomem *)w->slot) != v)
			w->bad++;
		w->done += 2;
		if (w->limit && w->done >= w->limit)
			atomic_inc(w->finished);
		cond_resched();
	}
	return 0;
}

static int kmmio_smp_start(struct kunit *test, struct kmmio_smp_worker *w,
			   struct kmmio_test_ctx *ctx, unsigned long limit,
			   atomic_t *finished)
{
	int cpu, n = 0;

	for_each_online_cpu(cpu) {
		if (n == KMMIO_SMP_MAX)
			break;
		w[n] = (struct kmmio_smp_worker) {
			.ctx = ctx,
			.slot = (u32 *)(ctx->page + 64 * n + (n & 1) * PAGE_SIZE),
			.limit = limit,
			.finished = finished,
		};
		w[n].task = kthread_run_on_cpu(kmmio_smp_workfn, &w[n], cpu,
					       "kmmio_smp/%u");
		KUNIT_ASSERT_FALSE(test, IS_ERR(w[n].task));
		n++;
	}
	return n;
}

/*
 * LOCK on a traced word: every CPU adds to it with "lock xadd" at once.
 * The sum is exact only if each emulated read-modify-write is atomic
 * against the others; each is one read and one write, both reported,
 * and nothing falls back.
 */
#define KMMIO_XADD_N	2000

struct kmmio_xadd_worker {
	struct task_struct *task;
	u32 *word;
	u64 sum;		/* of the values xadd returned */
	struct completion done;
};

static int kmmio_xadd_workfn(void *data)
{
	struct kmmio_xadd_worker *w = data;
	unsigned int i;

	for (i = 0; i < KMMIO_XADD_N; i++) {
		u32 v = 1;

		asm volatile("lock xaddl %0, (%1)"
			     : "+r" (v) : "r" (w->word) : "memory", "cc");
		w->sum += v;
		if (!(i % 64))
			cond_resched();
	}
	complete(&w->done);
	while (!kthread_should_stop())
		usleep_range(1000, 2000);
	return 0;
}

static void kmmio_smp_lock_xadd(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	struct kmmio_xadd_worker w[KMMIO_SMP_MAX];
	u32 *word = (u32 *)(ctx->page + KMMIO_TEST_OFF);
	u32 before = kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4);
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	u64 sum = 0, total, want;
	int cpu, n = 0, i;

	for_each_online_cpu(cpu) {
		if (n == KMMIO_SMP_MAX)
			break;
		w[n] = (struct kmmio_xadd_worker) { .word = word };
		init_completion(&w[n].done);
		w[n].task = kthread_run_on_cpu(kmmio_xadd_workfn, &w[n], cpu,
					       "kmmio_xadd/%u");
		KUNIT_ASSERT_FALSE(test, IS_ERR(w[n].task));
		n++;
	}
	for (i = 0; i < n; i++) {
		wait_for_completion(&w[i].done);
		kthread_stop(w[i].task);
		sum += w[i].sum;
	}
	s1 = kmmio_test_stats();
	total = (u64)n * KMMIO_XADD_N;
	/* The old values returned are before, before + 1, ..., once each. */
	want = total * before + total * (total - 1) / 2;

	KUNIT_EXPECT_EQ(test, num_online_cpus(), n);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF, 4),
			(u64)(u32)(before + total));
	KUNIT_EXPECT_EQ(test, sum, want);
	KUNIT_EXPECT_EQ(test, (u64)kmmio_test_calls(ctx), 2 * total);
	KUNIT_EXPECT_EQ(test, s1.emulated - s0.emulated, 2 * total);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);
	KUNIT_EXPECT_EQ(test, s1.refused - s0.refused, 0);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	kunit_info(test, "%d CPUs, %llu locked additions\n", n, total);
	kmmio_test_disarm(ctx);
}

/*
 * CPU hotplug with a frontend attached.  Hotplug callbacks may ioremap()
 * (uncore MMIO boxes do), so the core's mapping lock nests in the CPU
 * hotplug lock there, and the frontend's callbacks, which register and
 * unregister probes, run in the hotplug callback.  Attaching, detaching
 * and (un)registering under the mapping lock must therefore never take
 * the hotplug lock: lockdep would see both orders here, and a probe
 * registered from the callback must not wait for the hotplug lock its
 * own thread holds.
 */
static phys_addr_t kmmio_hp_phys;
static atomic_t kmmio_hp_calls;
static struct kmmio_probe kmmio_hp_probe;
static bool kmmio_hp_armed;
static atomic_t kmmio_hp_traced;

static int kmmio_hp_online(unsigned int cpu)
{
	void __iomem *io = ioremap(kmmio_hp_phys, PAGE_SIZE);

	if (!io)
		return -ENOMEM;
	atomic_inc(&kmmio_hp_calls);
	iounmap(io);
	return 0;
}

/* Serialised by the core's mapping lock. */
static void kmmio_hp_map(const struct kmmio_frontend *fe,
			 const struct kmmio_mapping *m, bool existing)
{
	if (existing || kmmio_hp_armed || m->phys != kmmio_hp_phys)
		return;
	kmmio_hp_probe = (struct kmmio_probe) {
		.addr = (unsigned long)m->virt,
		.len = PAGE_SIZE,
	};
	kmmio_hp_armed = !register_kmmio_probe(&kmmio_hp_probe);
	if (kmmio_hp_armed)
		atomic_inc(&kmmio_hp_traced);
}

static void kmmio_hp_unmap(const struct kmmio_frontend *fe,
			   const struct kmmio_mapping *m)
{
	if (kmmio_hp_armed && (unsigned long)m->virt == kmmio_hp_probe.addr) {
		unregister_kmmio_probe(&kmmio_hp_probe);
		kmmio_hp_armed = false;
	}
}

#define KMMIO_HP_ROUNDS	20

static void kmmio_smp_hotplug(struct kunit *test)
{
	static const struct kmmio_frontend fe = {
		.map = kmmio_hp_map,
		.unmap = kmmio_hp_unmap,
	};
	struct pci_dev *pdev = NULL;
	int cpu, state, i;

	cpu = cpumask_last(cpu_online_mask);
	if (num_online_cpus() < 2)
		kunit_skip(test, "needs a second CPU to take offline");
	/* Any device memory: the callback maps it and does not touch it. */
	for_each_pci_dev(pdev) {
		if (resource_type(pci_resource_n(pdev, 0)) == IORESOURCE_MEM &&
		    pci_resource_len(pdev, 0) >= PAGE_SIZE) {
			kmmio_hp_phys = pci_resource_start(pdev, 0);
			pci_dev_put(pdev);
			break;
		}
	}
	if (!kmmio_hp_phys)
		kunit_skip(test, "no PCI memory BAR to map");

	atomic_set(&kmmio_hp_calls, 0);
	atomic_set(&kmmio_hp_traced, 0);
	state = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN,
					  "kmmio/kunit:online",
					  kmmio_hp_online, NULL);
	KUNIT_ASSERT_GE(test, state, 0);
	for (i = 0; i < KMMIO_HP_ROUNDS; i++) {
		KUNIT_ASSERT_EQ(test, kmmio_attach_frontend(&fe), 0);
		KUNIT_ASSERT_EQ(test, remove_cpu(cpu), 0);
		KUNIT_ASSERT_EQ(test, add_cpu(cpu), 0);
		kmmio_detach_frontend(&fe);
	}
	cpuhp_remove_state_nocalls(state);

	KUNIT_EXPECT_EQ(test, atomic_read(&kmmio_hp_calls), KMMIO_HP_ROUNDS);
	KUNIT_EXPECT_EQ(test, atomic_read(&kmmio_hp_traced), KMMIO_HP_ROUNDS);
	KUNIT_EXPECT_FALSE(test, kmmio_hp_armed);
	KUNIT_EXPECT_TRUE(test, cpu_online(cpu));
}

/*
 * Every online CPU writes and reads its own word of two traced pages:
 * each access is reported exactly once, and every read returns what the
 * CPU wrote before.  No CPU is taken offline.
 */
static void kmmio_smp_hammer(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  2 * PAGE_SIZE);
	struct kmmio_smp_worker w[KMMIO_SMP_MAX];
	struct kmmio_stats s0 = kmmio_test_stats(), s1;
	atomic_t finished = ATOMIC_INIT(0);
	unsigned long done = 0, bad = 0;
	int i, n;

	n = kmmio_smp_start(test, w, ctx, 4000, &finished);
	while (atomic_read(&finished) < n)
		usleep_range(10000, 20000);
	for (i = 0; i < n; i++) {
		kthread_stop(w[i].task);
		done += w[i].done;
		bad += w[i].bad;
	}
	s1 = kmmio_test_stats();
	kunit_info(test, "%d CPUs online, %lu accesses\n", n, done);

	KUNIT_EXPECT_EQ(test, num_online_cpus(), n);
	KUNIT_EXPECT_EQ(test, bad, 0);
	KUNIT_EXPECT_EQ(test, (unsigned long)kmmio_test_calls(ctx), done);
	KUNIT_EXPECT_EQ(test, s1.traced - s0.traced, (u64)done);
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, 0);
	kmmio_test_disarm(ctx);
}

/*
 * One CPU single-steps rotations of a traced word, on the page if
 * @on_page, else on the alias, while every CPU writes and reads its own
 * word of it, under @policy.  Returns the accesses of the others that
 * were not reported.
 */
static unsigned long kmmio_smp_steps(struct kunit *test, int policy,
				     bool on_page, unsigned int steps)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  2 * PAGE_SIZE);
	struct kmmio_smp_worker w[KMMIO_SMP_MAX];
	struct kmmio_stats s0, s1;
	u32 *p = (u32 *)(ctx->page + 0x800);
	u32 before = kmmio_test_mem(ctx, 0x800, 4);
	int saved = kmmio_fallback_policy;
	atomic_t finished = ATOMIC_INIT(0);
	unsigned long done = 0, bad = 0, calls;
	u32 cur = before;
	unsigned int i;
	int n;

	n = kmmio_smp_start(test, w, ctx, 0, &finished);
	msleep(20);
	s0 = kmmio_test_stats();
	WRITE_ONCE(kmmio_fallback_policy, policy);
	for (i = 0; i < steps; i++) {
		if (on_page)
			kmmio_test_rol8_page(p, cur);
		else
			kmmio_test_rol8(p, cur);
		cur = rol32(cur, 8);
		cond_resched();
	}
	WRITE_ONCE(kmmio_fallback_policy, saved);
	s1 = kmmio_test_stats();
	for (i = 0; i < n; i++) {
		kthread_stop(w[i].task);
		done += w[i].done;
		bad += w[i].bad;
	}
	calls = kmmio_test_calls(ctx);

	KUNIT_EXPECT_EQ(test, num_online_cpus(), n);
	KUNIT_EXPECT_EQ(test, bad, 0);
	KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, 0x800, 4),
			(u64)rol32(before, (8 * steps) % 32));
	KUNIT_EXPECT_EQ(test, s1.stepped - s0.stepped, (u64)steps);
	KUNIT_EXPECT_EQ(test, s1.unarmed - s0.unarmed, on_page ? (u64)steps : 0);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));
	KUNIT_EXPECT_LE(test, calls, done + steps);
	kunit_info(test, "%s: %d CPUs, %u steps, %lu accesses, %lu not seen\n",
		   !on_page ? "alias" :
		   policy == KMMIO_FALLBACK_STOP ? "stop" : "step", n, steps,
		   done, done + steps - calls);
	kmmio_test_disarm(ctx);
	return done + steps - calls;
}

/*
 * A single step on the alias misses nothing: the page stays armed, and
 * every access of the other CPUs meanwhile is reported.  On the page,
 * the "stop" policy misses nothing either: while one CPU single-steps,
 * the others are held.  No CPU is taken offline.  With "step" on the
 * page, their accesses during a step are not seen (shown for comparison,
 * not checked: it depends on timing).
 */
static void kmmio_smp_stop(struct kunit *test)
{
	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two CPUs online");
	KUNIT_EXPECT_EQ(test, kmmio_smp_steps(test, KMMIO_FALLBACK_STEP,
					      false, 200), 0);
	kmmio_smp_steps(test, KMMIO_FALLBACK_STEP, true, 200);
	KUNIT_EXPECT_EQ(test, kmmio_smp_steps(test, KMMIO_FALLBACK_STOP,
					      true, 200), 0);
}

/*
 * Unregister while the other CPUs keep accessing the page: the handler
 * never runs after unregister_kmmio_probe() returned, nothing crashes,
 * the page is present again and the accesses keep working.
 */
static void kmmio_smp_unregister_under_load(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  2 * PAGE_SIZE);
	struct kmmio_smp_worker w[KMMIO_SMP_MAX];
	atomic_t finished = ATOMIC_INIT(0);
	unsigned long done = 0, bad = 0;
	int i, n, calls, round;

	for (round = 0; round < 5; round++) {
		atomic_set(&ctx->calls, 0);
		if (round)
			KUNIT_ASSERT_EQ(test, register_kmmio_probe(&ctx->probe), 0);
		n = kmmio_smp_start(test, w, ctx, 0, &finished);
		msleep(20);
		unregister_kmmio_probe(&ctx->probe);
		calls = kmmio_test_calls(ctx);
		KUNIT_EXPECT_TRUE(test, kmmio_test_present(ctx->page));
		KUNIT_EXPECT_TRUE(test, kmmio_test_present(ctx->page + PAGE_SIZE));
		msleep(20);
		for (i = 0; i < n; i++) {
			kthread_stop(w[i].task);
			done += w[i].done;
			bad += w[i].bad;
		}
		/* The handler did not run after unregistering. */
		KUNIT_EXPECT_EQ(test, kmmio_test_calls(ctx), calls);
		KUNIT_EXPECT_GT(test, calls, 0);
	}
	KUNIT_EXPECT_EQ(test, bad, 0);
	KUNIT_EXPECT_GT(test, done, 0);
	vfree(ctx->page);
}

/*
 * The benchmark: prints the cost of each path, it checks no timing.  Run
 * it with kunit.filter_glob=kmmio_bench (ci/bench): once under plain TCG
 * for nanoseconds, once under -icount shift=0, where one nanosecond of
 * guest time is one guest instruction.
 */
#define KMMIO_BENCH_N	4000

static u64 kmmio_bench_loop(void (*fn)(void *p), void *p, unsigned int n)
{
	u64 t0, t1;
	unsigned int i;

	fn(p);		/* warm up */
	t0 = local_clock();
	for (i = 0; i < n; i++)
		fn(p);
	t1 = local_clock();
	return div_u64(t1 - t0, n);
}

static void kmmio_bench_read(void *p)
{
	(void)readl((void __iomem *)p);
}

static void kmmio_bench_rmw(void *p)
{
	asm volatile(KMMIO_TEST_ROL8
		     : : "a" (p), "d" (0) : "memory", "cc");
}

static void kmmio_bench_rmw_page(void *p)
{
	asm volatile(KMMIO_TEST_ROL8_PAGE
		     : : "a" ((unsigned long)p / 2), "d" (0) : "memory", "cc");
}

/* A page of dwords with REP STOS: per element, the fault shared. */
#define KMMIO_BENCH_STOS	(PAGE_SIZE / 4)
#define KMMIO_BENCH_STOS_N	(KMMIO_BENCH_N / 64)

static void kmmio_bench_rep_stos(void *p)
{
	unsigned long n = KMMIO_BENCH_STOS;

	asm volatile("rep stosl"
		     : "+D" (p), "+c" (n) : "a" (0UL) : "memory");
}

static void kmmio_bench_write(void *p)
{
	writel(0x5a5a5a5a, (void __iomem *)p);
}

/* Read-modify-writes that leave the word as it is: one R and one W. */
static void kmmio_bench_or(void *p)
{
	asm volatile("orl $0, (%0)" : : "r" (p) : "memory", "cc");
}

static void kmmio_bench_lock_or(void *p)
{
	asm volatile("lock orl $0, (%0)" : : "r" (p) : "memory", "cc");
}

static void kmmio_bench_fault(void *p)
{
	u32 v;

	/* A not-present page: #PF, exception fixup, back. */
	(void)get_kernel_nofault(v, (u32 *)p);
}

static void kmmio_bench_paths(struct kunit *test)
{
	struct kmmio_test_ctx *ctx;
	void *plain = vmalloc(PAGE_SIZE);
	/* vmalloc() leaves an unmapped guard page after each area. */
	void *guard = plain + PAGE_SIZE;
	u64 untraced, fault_off, fault_on, emulate, emulate_mid, step, stop;
	u64 alias_step, rep_stos;
	u64 write, rmw, lock_rmw;
	u64 traced0 = kmmio_test_stats().traced;
	int policy = kmmio_fallback_policy;

	KUNIT_ASSERT_NOT_NULL(test, plain);
	KUNIT_ASSERT_FALSE(test, kmmio_test_active());
	untraced = kmmio_bench_loop(kmmio_bench_read, plain, 10 * KMMIO_BENCH_N);
	fault_off = kmmio_bench_loop(kmmio_bench_fault, guard, KMMIO_BENCH_N);

	ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	fault_on = kmmio_bench_loop(kmmio_bench_fault, guard, KMMIO_BENCH_N);
	emulate = kmmio_bench_loop(kmmio_bench_read, ctx->page, KMMIO_BENCH_N);
	/* Not at the start of a page: the operand is where the fault was. */
	emulate_mid = kmmio_bench_loop(kmmio_bench_read, ctx->page + 0x100,
				       KMMIO_BENCH_N);
	write = kmmio_bench_loop(kmmio_bench_write, ctx->page + 0x100,
				 KMMIO_BENCH_N);
	rmw = kmmio_bench_loop(kmmio_bench_or, ctx->page + 0x100,
			       KMMIO_BENCH_N);
	lock_rmw = kmmio_bench_loop(kmmio_bench_lock_or, ctx->page + 0x100,
				    KMMIO_BENCH_N);
	rep_stos = kmmio_bench_loop(kmmio_bench_rep_stos, ctx->page,
				    KMMIO_BENCH_STOS_N) / KMMIO_BENCH_STOS;
	alias_step = kmmio_bench_loop(kmmio_bench_rmw, ctx->page, KMMIO_BENCH_N);
	step = kmmio_bench_loop(kmmio_bench_rmw_page, ctx->page, KMMIO_BENCH_N);
	WRITE_ONCE(kmmio_fallback_policy, KMMIO_FALLBACK_STOP);
	stop = kmmio_bench_loop(kmmio_bench_rmw_page, ctx->page, KMMIO_BENCH_N);
	WRITE_ONCE(kmmio_fallback_policy, policy);
	kmmio_test_disarm(ctx);
	vfree(plain);

	/*
	 * Each traced access reported once (a read-modify-write is two):
	 * the loops measured the paths.
	 */
	KUNIT_EXPECT_EQ(test, kmmio_test_stats().traced - traced0,
			(u64)10 * (KMMIO_BENCH_N + 1) +
			(u64)KMMIO_BENCH_STOS * (KMMIO_BENCH_STOS_N + 1));
	kunit_info(test, "bench untraced_access %llu\n", untraced);
	kunit_info(test, "bench fault_key_off %llu\n", fault_off);
	kunit_info(test, "bench fault_key_on %llu\n", fault_on);
	kunit_info(test, "bench emulated_access %llu\n", emulate);
	kunit_info(test, "bench emulated_mid_page %llu\n", emulate_mid);
	kunit_info(test, "bench emulated_write %llu\n", write);
	kunit_info(test, "bench emulated_rmw %llu\n", rmw);
	kunit_info(test, "bench emulated_lock_rmw %llu\n", lock_rmw);
	kunit_info(test, "bench rep_stos_element %llu\n", rep_stos);
	kunit_info(test, "bench alias_step_access %llu\n", alias_step);
	kunit_info(test, "bench single_step_access %llu\n", step);
	kunit_info(test, "bench single_step_stopped %llu\n", stop);
}

struct kmmio_bench_worker {
	struct kmmio_test_ctx *ctx;
	struct task_struct *task;
	u32 *slot;
	u64 until;		/* local_clock() deadline */
	unsigned long done;
	struct completion finished;
};

static int kmmio_bench_workfn(void *data)
{
	struct kmmio_bench_worker *w = data;

	while (local_clock() < w->until) {
		int i;

		for (i = 0; i < 64; i++)
			(void)readl((void __iomem *)w->slot);
		w->done += 64;
		cond_resched();
	}
	complete(&w->finished);
	while (!kthread_should_stop())
		usleep_range(1000, 2000);
	return 0;
}

/* Traced accesses per second of @n CPUs, each on its own page, for @len ns. */
static unsigned long kmmio_bench_rate(struct kunit *test,
				      struct kmmio_test_ctx *ctx, int n, u64 len)
{
	struct kmmio_bench_worker w[2];
	u64 t0 = local_clock();
	unsigned long done = 0;
	int i;

	for (i = 0; i < n; i++) {
		w[i] = (struct kmmio_bench_worker) {
			.ctx = ctx,
			.slot = (u32 *)(ctx->page + i * PAGE_SIZE),
			.until = t0 + len,
		};
		init_completion(&w[i].finished);
	}
	for (i = 0; i < n; i++) {
		w[i].task = kthread_run_on_cpu(kmmio_bench_workfn, &w[i],
					       cpumask_nth(i, cpu_online_mask),
					       "kmmio_bench/%u");
		KUNIT_ASSERT_FALSE(test, IS_ERR(w[i].task));
	}
	for (i = 0; i < n; i++) {
		wait_for_completion(&w[i].finished);
		kthread_stop(w[i].task);
		done += w[i].done;
	}
	return div_u64((u64)done * NSEC_PER_SEC, local_clock() - t0);
}

/*
 * Traced accesses per second with 1 and 2 CPUs: three rounds each,
 * alternating, the best of each kept, so that the host's noise hits
 * both alike.
 */
static void kmmio_bench_scaling(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm_pages(test, 2, 0,
							  2 * PAGE_SIZE);
	const u64 len = 200 * NSEC_PER_MSEC;
	unsigned long rate[3] = {};
	int n, round;

	for (round = 0; round < 3; round++) {
		for (n = 1; n <= min(2U, num_online_cpus()); n++)
			rate[n] = max(rate[n], kmmio_bench_rate(test, ctx, n, len));
	}
	for (n = 1; n <= min(2U, num_online_cpus()); n++)
		kunit_info(test, "bench traced_per_s_%dcpu %lu\n", n, rate[n]);
	KUNIT_EXPECT_GT(test, rate[1], 0);
	kmmio_test_disarm(ctx);
}

static struct kunit_case kmmio_bench_cases[] = {
	KUNIT_CASE_SLOW(kmmio_bench_paths),
	KUNIT_CASE_SLOW(kmmio_bench_scaling),
	{}
};

static struct kunit_suite kmmio_bench_suite = {
	.name = "kmmio_bench",
	.test_cases = kmmio_bench_cases,
};

static struct kunit_case kmmio_smp_cases[] = {
	KUNIT_CASE_SLOW(kmmio_smp_hotplug),
	KUNIT_CASE_SLOW(kmmio_smp_hammer),
	KUNIT_CASE_SLOW(kmmio_smp_unregister_under_load),
	KUNIT_CASE_SLOW(kmmio_smp_stop),
	KUNIT_CASE_SLOW(kmmio_smp_lock_xadd),
	{}
};

static struct kunit_suite kmmio_smp_suite = {
	.name = "kmmio_smp",
	.test_cases = kmmio_smp_cases,
};

kunit_test_suites(&kmmio_test_suite, &kmmio_smp_suite, &kmmio_bench_suite);

MODULE_DESCRIPTION("KUnit tests for the kmmio core");
MODULE_LICENSE("GPL");
