// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the kmmio core and the mmiotrace instruction decoder.
 *
 * A vmalloc()ed page stands in for an MMIO mapping: a probe on it makes
 * the page not present, so each access takes the kmmio fault path, is
 * single-stepped and reported to the probe's handlers.  The handlers
 * decode the access exactly as the mmiotrace tracer does in mmio-mod.c,
 * so the expectations below are what the tracer writes into a trace.
 * The page's linear-map alias is used to set up and check its contents
 * without faulting.
 */

#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/mmiotrace.h>
#include <linux/pgtable.h>
#include <linux/rcupdate.h>
#include <linux/vmalloc.h>

#include "pf_in.h"

#define KMMIO_TEST_MAX_HITS	8

struct kmmio_test_hit {
	unsigned long addr;
	unsigned long ip;
	enum reason_type type;
	unsigned int width;
	unsigned long value;
};

struct kmmio_test_ctx {
	struct kmmio_probe probe;
	u8 *page;	/* the traced vmalloc mapping */
	u8 *alias;	/* linear-map alias of the same memory */
	int pre_calls;
	int post_calls;
	struct kmmio_test_hit hits[KMMIO_TEST_MAX_HITS];
};

/* Called from the page fault handler, IRQs off: only record. */
static void kmmio_test_pre(struct kmmio_probe *p, struct pt_regs *regs,
			   unsigned long addr)
{
	struct kmmio_test_ctx *ctx = p->private;
	unsigned long ip = instruction_pointer(regs);
	struct kmmio_test_hit *hit;

	if (ctx->pre_calls++ >= KMMIO_TEST_MAX_HITS)
		return;
	hit = &ctx->hits[ctx->pre_calls - 1];
	hit->addr = addr;
	hit->ip = ip;
	hit->type = get_ins_type(ip);
	hit->width = 0;
	hit->value = 0;
	switch (hit->type) {
	case REG_READ:
		hit->width = get_ins_mem_width(ip);
		break;
	case REG_WRITE:
		hit->width = get_ins_mem_width(ip);
		hit->value = get_ins_reg_val(ip, regs);
		break;
	case IMM_WRITE:
		hit->width = get_ins_mem_width(ip);
		hit->value = get_ins_imm_val(ip);
		break;
	default:
		break;
	}
}

/* Called from the debug trap after the single step, IRQs off. */
static void kmmio_test_post(struct kmmio_probe *p, unsigned long condition,
			    struct pt_regs *regs)
{
	struct kmmio_test_ctx *ctx = p->private;
	struct kmmio_test_hit *hit;

	if (ctx->post_calls++ >= KMMIO_TEST_MAX_HITS)
		return;
	hit = &ctx->hits[ctx->post_calls - 1];
	if (hit->type == REG_READ)
		hit->value = get_ins_reg_val(hit->ip, regs);
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

static u64 kmmio_test_mem(struct kmmio_test_ctx *ctx, unsigned int off,
			  unsigned int width)
{
	u64 v = 0;

	memcpy(&v, ctx->alias + off, width);
	return v;
}

static struct kmmio_test_ctx *kmmio_test_arm(struct kunit *test,
					     unsigned long offset,
					     unsigned long len)
{
	struct kmmio_test_ctx *ctx;
	unsigned int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->page = vmalloc(PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, ctx->page);
	ctx->alias = page_address(vmalloc_to_page(ctx->page));
	for (i = 0; i < PAGE_SIZE; i++)
		ctx->alias[i] = kmmio_test_pattern(i);

	ctx->probe.addr = (unsigned long)ctx->page + offset;
	ctx->probe.len = len;
	ctx->probe.pre_handler = kmmio_test_pre;
	ctx->probe.post_handler = kmmio_test_post;
	ctx->probe.private = ctx;
	KUNIT_ASSERT_EQ(test, register_kmmio_probe(&ctx->probe), 0);
	return ctx;
}

static void kmmio_test_disarm(struct kmmio_test_ctx *ctx)
{
	unregister_kmmio_probe(&ctx->probe);
	synchronize_rcu();
	vfree(ctx->page);
	ctx->page = NULL;
}

static bool kmmio_test_present(void *addr)
{
	unsigned int level;
	pte_t *pte = lookup_address((unsigned long)addr, &level);

	return pte && pte_present(*pte);
}

/*
 * One function per instruction form.  @p is the traced address, *@r
 * receives the register a read loaded (zero- or sign-extended as the
 * instruction does).
 */
#define KMMIO_W(name, insn, ...)					\
static void name(void *p, unsigned long *r)				\
{									\
	asm volatile(insn : : "r" (p), ##__VA_ARGS__ : "memory");	\
}

#define KMMIO_R(name, type, insn)					\
static void name(void *p, unsigned long *r)				\
{									\
	type v;								\
	asm volatile(insn : "=r" (v) : "r" (p) : "memory");		\
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

	asm volatile("movq %%r9, (%0)" : : "r" (p), "r" (r9) : "memory");
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

static void s_stosb(void *p, unsigned long *r)
{
	asm volatile("stosb" : "+D" (p) : "a" (0x3cUL) : "memory");
}

static void s_stosl(void *p, unsigned long *r)
{
	asm volatile("stosl" : "+D" (p) : "a" (0x3c3d3e3fUL) : "memory");
}

static void s_stosq(void *p, unsigned long *r)
{
	asm volatile("stosq" : "+D" (p) : "a" (0x0102030405060708UL)
		     : "memory");
}

/* MOVS is not decoded: it is reported as UNKNOWN, yet executed. */
static void s_movsl(void *p, unsigned long *r)
{
	u32 dst = 0;
	void *d = &dst;

	asm volatile("movsl" : "+S" (p), "+D" (d) : : "memory");
	*r = dst;
}

enum kmmio_test_ext { EXT_ZERO, EXT_SIGN };

struct kmmio_insn_case {
	const char *name;
	void (*run)(void *p, unsigned long *r);
	unsigned int disp;		/* offset the insn adds to p */
	enum reason_type type;
	unsigned int width;		/* reported (= memory) width */
	unsigned long value;		/* reported value of a write */
	unsigned int reg_width;		/* register a read/MOVS loads */
	enum kmmio_test_ext ext;	/* and how it extends the value */
	unsigned int where;		/* p's offset from KMMIO_TEST_OFF */
};

static const struct kmmio_insn_case kmmio_insn_cases[] = {
	{ "mov r8 to m", w_mov8, 0, REG_WRITE, 1, 0x5a },
	{ "mov r16 to m", w_mov16, 0, REG_WRITE, 2, 0x1234 },
	{ "mov r32 to m", w_mov32, 0, REG_WRITE, 4, 0x12345678 },
	{ "mov r64 to m", w_mov64, 0, REG_WRITE, 8, 0x123456789abcdef0 },
	{ "mov ah to m", w_mov_ah, 0, REG_WRITE, 1, 0x77 },
	{ "mov sil to m (REX)", w_mov_sil, 0, REG_WRITE, 1, 0x66 },
	{ "mov r9 to m (REX.R)", w_mov_r9, 0, REG_WRITE, 8,
	  0x0123456789abcdef },
	{ "mov r32 to m, disp8", w_mov32_disp8, 0x10, REG_WRITE, 4,
	  0xcafe0010 },
	{ "mov r32 to m, disp32", w_mov32_disp32, 0x400, REG_WRITE, 4,
	  0xcafe0400 },
	{ "mov r32 to m, SIB", w_mov32_sib, 8, REG_WRITE, 4, 0x0badf00d },
	{ "mov imm8 to m", w_imm8, 0, IMM_WRITE, 1, 0xa5 },
	{ "mov imm16 to m", w_imm16, 0, IMM_WRITE, 2, 0xbeef },
	{ "mov imm32 to m", w_imm32, 0, IMM_WRITE, 4, 0xdeadbeef },
	{ "mov imm32 to m, disp8", w_imm32_disp8, 0x20, IMM_WRITE, 4,
	  0x11223344 },
	{ "mov imm32 to m64 (REX.W), negative", w_imm64_neg, 0, IMM_WRITE, 8,
	  0xfffffffffffffffe },
	{ "mov imm32 to m64 (REX.W), positive", w_imm64_pos, 0, IMM_WRITE, 8,
	  0x7badbeef },
	{ "mov imm32 to m, SIB", w_imm32_sib, 24, IMM_WRITE, 4, 0x89abcdef },
	{ "mov imm8 to m, SIB+disp8", w_imm8_sib_disp8, 0x34, IMM_WRITE, 1,
	  0x7e },
	{ "mov imm16 to m, SIB+disp32", w_imm16_sib_disp32, 0x210, IMM_WRITE,
	  2, 0x4321 },
	{ "mov m to r8", r_mov8, 0, REG_READ, 1, 0, 1, EXT_ZERO },
	{ "mov m to r16", r_mov16, 0, REG_READ, 2, 0, 2, EXT_ZERO },
	{ "mov m to r32", r_mov32, 0, REG_READ, 4, 0, 4, EXT_ZERO },
	{ "mov m to r64", r_mov64, 0, REG_READ, 8, 0, 8, EXT_ZERO },
	{ "movzbl", r_movzbl, 0, REG_READ, 1, 0, 4, EXT_ZERO },
	{ "movzwl", r_movzwl, 0, REG_READ, 2, 0, 4, EXT_ZERO },
	{ "movzbq", r_movzbq, 0, REG_READ, 1, 0, 8, EXT_ZERO },
	{ "movsbl, positive", r_movsbl, 0, REG_READ, 1, 0, 4, EXT_SIGN },
	{ "movswl, positive", r_movswl, 0, REG_READ, 2, 0, 4, EXT_SIGN },
	{ "movsbl, negative", r_movsbl, 0, REG_READ, 1, 0, 4, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "movswl, negative", r_movswl, 0, REG_READ, 2, 0, 4, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "movsbq, negative", r_movsbq, 0, REG_READ, 1, 0, 8, EXT_SIGN,
	  KMMIO_TEST_NEG },
	{ "stosb", s_stosb, 0, REG_WRITE, 1, 0x3c },
	{ "stosl", s_stosl, 0, REG_WRITE, 4, 0x3c3d3e3f },
	{ "stosq", s_stosq, 0, REG_WRITE, 8, 0x0102030405060708 },
	{ "movsl (not decoded)", s_movsl, 0, OTHERS, 0, 0, 4, EXT_ZERO },
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
	if (ext == EXT_SIGN && from < 8)
		v = sign_extend64(v, from * 8 - 1);
	return to < 8 ? v & GENMASK_ULL(to * 8 - 1, 0) : v;
}

/*
 * Every instruction form the decoder handles: the access really happens
 * (memory or register as the CPU would have it) and the handlers see
 * the faulting address, the direction, the width and the value.
 */
static void kmmio_test_insn(struct kunit *test)
{
	const struct kmmio_insn_case *c = test->param_value;
	unsigned int off = KMMIO_TEST_OFF + c->where + c->disp;
	struct kmmio_test_ctx *ctx;
	unsigned long reg = 0;
	u64 before;

	ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	before = kmmio_test_mem(ctx, off, 8);

	c->run(ctx->page + KMMIO_TEST_OFF + c->where, &reg);

	KUNIT_EXPECT_EQ(test, ctx->pre_calls, 1);
	KUNIT_EXPECT_EQ(test, ctx->post_calls, 1);
	KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->hits[0].addr,
			    (void *)(ctx->page + off));
	KUNIT_EXPECT_EQ(test, ctx->hits[0].type, c->type);
	KUNIT_EXPECT_EQ(test, ctx->hits[0].width, c->width);

	switch (c->type) {
	case REG_WRITE:
	case IMM_WRITE:
		KUNIT_EXPECT_EQ(test, ctx->hits[0].value, c->value);
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off, c->width),
				(u64)c->value);
		break;
	case REG_READ:
		KUNIT_EXPECT_EQ(test, (u64)ctx->hits[0].value,
				kmmio_test_mem(ctx, off, c->width));
		KUNIT_EXPECT_EQ(test, (u64)reg,
				kmmio_test_extend(kmmio_test_mem(ctx, off, c->width),
						  c->width, c->reg_width, c->ext));
		break;
	default:
		KUNIT_EXPECT_EQ(test, (u64)reg,
				kmmio_test_mem(ctx, off, c->reg_width));
		break;
	}
	if (c->type == REG_READ || c->type == OTHERS)
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, off, 8), before);

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
	synchronize_rcu();
	KUNIT_EXPECT_TRUE(test, kmmio_test_present(page));
	KUNIT_EXPECT_FALSE(test, is_kmmio_active());

	/* Disarmed: no more handler calls. */
	WRITE_ONCE(*(u32 *)page, 1);
	KUNIT_EXPECT_EQ(test, ctx->pre_calls, 0);
	vfree(page);
}

/* REP STOS faults once per element: one event per element. */
static void kmmio_test_rep_stos(struct kunit *test)
{
	struct kmmio_test_ctx *ctx = kmmio_test_arm(test, 0, PAGE_SIZE);
	void *p = ctx->page + KMMIO_TEST_OFF;
	unsigned long n = 4;
	int i;

	asm volatile("rep stosl" : "+D" (p), "+c" (n) : "a" (0x55aa55aaUL)
		     : "memory");

	KUNIT_EXPECT_EQ(test, ctx->pre_calls, 4);
	KUNIT_EXPECT_EQ(test, ctx->post_calls, 4);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_PTR_EQ(test, (void *)ctx->hits[i].addr,
				    (void *)(ctx->page + KMMIO_TEST_OFF + 4 * i));
		KUNIT_EXPECT_EQ(test, ctx->hits[i].width, 4);
		KUNIT_EXPECT_EQ(test, ctx->hits[i].value, 0x55aa55aaUL);
		KUNIT_EXPECT_EQ(test, kmmio_test_mem(ctx, KMMIO_TEST_OFF + 4 * i, 4),
				0x55aa55aaULL);
	}
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

	r_mov32(ctx->page + 0x10, &reg);
	KUNIT_EXPECT_EQ(test, ctx->pre_calls, 0);
	KUNIT_EXPECT_EQ(test, (u64)reg, kmmio_test_mem(ctx, 0x10, 4));
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(ctx->page));

	r_mov32(ctx->page + 0x880, &reg);
	KUNIT_EXPECT_EQ(test, ctx->pre_calls, 1);
	KUNIT_EXPECT_EQ(test, ctx->post_calls, 1);
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
		KUNIT_EXPECT_EQ(test, go->pre_calls, 1);

		unregister_kmmio_probe(&go->probe);
		synchronize_rcu();
		KUNIT_EXPECT_TRUE(test, kmmio_test_present(page));
		w_mov32(page, &reg);
		KUNIT_EXPECT_EQ(test, go->pre_calls, 1);
		vfree(page);
	}
	KUNIT_EXPECT_EQ(test, stay->pre_calls, 32);
	KUNIT_EXPECT_EQ(test, stay->post_calls, 32);
	KUNIT_EXPECT_FALSE(test, kmmio_test_present(stay->page));
	kmmio_test_disarm(stay);
	rcu_barrier();
	KUNIT_EXPECT_FALSE(test, is_kmmio_active());
}

static struct kunit_case kmmio_test_cases[] = {
	KUNIT_CASE(kmmio_test_register),
	KUNIT_CASE_PARAM(kmmio_test_insn, kmmio_insn_gen_params),
	KUNIT_CASE(kmmio_test_rep_stos),
	KUNIT_CASE(kmmio_test_unaligned_probe),
	KUNIT_CASE(kmmio_test_come_and_go),
	{}
};

static struct kunit_suite kmmio_test_suite = {
	.name = "kmmio",
	.test_cases = kmmio_test_cases,
};

kunit_test_suite(kmmio_test_suite);

MODULE_DESCRIPTION("KUnit tests for the kmmio core");
MODULE_LICENSE("GPL");
