// SPDX-License-Identifier: GPL-2.0
/*
 * The reader of /dev/kmmiotrace as programs use it, in the guest:
 *
 *   readtest DEVICE 'COMMAND'
 *
 * COMMAND makes traced accesses (it is run with sh -c, in a child, after a
 * short delay).  Checks, each printed as "readtest: ok ..." or
 * "readtest: FAIL ...", and a last line "readtest: PASS" or "readtest: N
 * failed":
 *
 *   - O_NONBLOCK set with fcntl() after open(): once the backlog is read,
 *     read() returns EAGAIN at once (it is a per-read property);
 *   - poll() on a drained reader times out (it is not always ready);
 *   - poll() wakes up when COMMAND makes accesses, well before its timeout;
 *   - epoll: the device can be added, and epoll_wait() wakes up likewise;
 *   - a blocking read() wakes up when COMMAND makes accesses;
 *   - a marker written meanwhile wakes a reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failed;
static char buf[1 << 16];

#define check(cond, ...)						\
	do {								\
		printf("readtest: %s ", (cond) ? "ok" : "FAIL");	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
		if (!(cond))						\
			failed++;					\
	} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * Read what is there, non-blocking; returns the bytes read, -1 on a read
 * error but EAGAIN (EINTR if a read blocked for 5 s).
 */
static long drain(int fd)
{
	long total = 0;
	ssize_t n;

	alarm(5);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	alarm(0);
	if (n < 0 && errno != EAGAIN)
		return -1;
	return total;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Run COMMAND after DELAY_MS in a child; returns its pid. */
static pid_t later(const char *cmd, int delay_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		usleep(delay_ms * 1000);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* SIGALRM interrupts a read() that would block for ever: it fails with EINTR. */
static void on_alarm(int sig)
{
}

static void reap(pid_t pid)
{
	int status;

	waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct pollfd p;
	double t0, dt;
	long got;
	int fd, ep, r;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: readtest DEVICE 'COMMAND'\n");
		return 2;
	}
	/* A read that blocks for ever must not hang the boot: fail instead. */
	struct sigaction sa = { .sa_handler = on_alarm };

	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		printf("readtest: FAIL open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	/* Non-blocking, set after open(): read the backlog, then EAGAIN. */
	set_nonblock(fd, 1);
	t0 = now_ms();
	got = drain(fd);
	dt = now_ms() - t0;
	check(got > 0 && dt < 1000,
	      "O_NONBLOCK set after open(): %ld bytes, then %s after %.0f ms", got,
	      got > 0 ? "EAGAIN" : strerror(errno), dt);

	/* Drained: poll() waits for its timeout. */
	drain(fd);
	p.fd = fd;
	p.events = POLLIN;
	t0 = now_ms();
	r = poll(&p, 1, 500);
	dt = now_ms() - t0;
	check(r == 0 && dt >= 400, "poll() on a drained reader: %d after %.0f ms (timeout 500)", r, dt);

	/* Accesses wake poll() up. */
	pid = later(argv[2], 300);
	t0 = now_ms();
	r = poll(&p, 1, 20000);
	dt = now_ms() - t0;
	check(r == 1 && (p.revents & POLLIN) && dt < 10000,
	      "poll() woken by traced accesses after %.0f ms", dt);
	reap(pid);
	got = drain(fd);
	check(got > 0, "then read() gives %ld bytes", got);

	/* epoll likewise. */
	ep = epoll_create1(0);
	r = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	check(r == 0, "epoll_ctl(EPOLL_CTL_ADD): %s", r ? strerror(errno) : "added");
	if (r == 0) {
		drain(fd);
		r = epoll_wait(ep, &out, 1, 300);
		check(r == 0, "epoll_wait() on a drained reader: %d", r);
		pid = later(argv[2], 300);
		t0 = now_ms();
		r = epoll_wait(ep, &out, 1, 20000);
		dt = now_ms() - t0;
		check(r == 1 && (out.events & EPOLLIN) && dt < 10000,
		      "epoll_wait() woken by traced accesses after %.0f ms", dt);
		reap(pid);
		drain(fd);
	}

	/* Blocking again: read() sleeps until accesses come. */
	set_nonblock(fd, 0);
	pid = later(argv[2], 300);
	t0 = now_ms();
	alarm(15);
	got = read(fd, buf, sizeof(buf));
	alarm(0);
	dt = now_ms() - t0;
	check(got > 0 && dt >= 200 && dt < 10000, "blocking read() woken after %.0f ms: %ld bytes", dt, got);
	reap(pid);
	set_nonblock(fd, 1);
	drain(fd);
	set_nonblock(fd, 0);

	/* A marker wakes a sleeping reader. */
	pid = later("echo readtest-marker >/dev/kmmiotrace", 300);
	t0 = now_ms();
	alarm(15);
	got = read(fd, buf, sizeof(buf) - 1);
	alarm(0);
	dt = now_ms() - t0;
	buf[got > 0 ? got : 0] = 0;
	check(got > 0 && strstr(buf, "readtest-marker") && dt < 10000,
	      "a marker wakes a blocking read() after %.0f ms", dt);
	reap(pid);

	close(ep);
	close(fd);
	if (failed)
		printf("readtest: %d failed\n", failed);
	else
		printf("readtest: PASS\n");
	return failed ? 1 : 0;
}
