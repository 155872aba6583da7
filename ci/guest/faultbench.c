// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of a user page fault, for ci/bench: a read fault (maps the
 * zero page) and a write fault on it (allocates a page), per fault, the
 * best of five rounds over 8192 pages.  Built static, run in the guest.
 * Under QEMU -icount shift=0 the guest clock advances one nanosecond per
 * guest instruction, so the figures are instructions there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGES	8192
#define ROUNDS	5

static long long now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void)
{
	long long best_r = -1, best_w = -1, t0, t1, t2;
	volatile char *p;
	unsigned long sum = 0;
	int r, i;

	for (r = 0; r < ROUNDS; r++) {
		p = mmap(NULL, PAGES * 4096L, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("faultbench: mmap");
			return 1;
		}
		/* One fault per 4K page, not one per huge page. */
		madvise((void *)p, PAGES * 4096L, MADV_NOHUGEPAGE);
		t0 = now();
		for (i = 0; i < PAGES; i++)
			sum += p[i * 4096L];
		t1 = now();
		for (i = 0; i < PAGES; i++)
			p[i * 4096L] = 1;
		t2 = now();
		munmap((void *)p, PAGES * 4096L);
		if (best_r < 0 || t1 - t0 < best_r)
			best_r = t1 - t0;
		if (best_w < 0 || t2 - t1 < best_w)
			best_w = t2 - t1;
	}
	printf("faultbench read_fault %lld\n", best_r / PAGES);
	printf("faultbench write_fault %lld\n", best_w / PAGES);
	return sum != 0;
}
