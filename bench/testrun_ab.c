// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark tool (bench/HOT_PAIR.md, not shipped): tc_ingress of several builds of bpf/traffic.bpf.c
 * side by side on one existing IPv4 and one IPv6 pair, by BPF_PROG_TEST_RUN, as KernelCostBench
 * measures them but with any number of objects in one process, so that variants alternate within
 * each round. Each object is loaded twice: "ipv4"/"ipv6" count only on CPU 0 (the atomic adds),
 * "ipv4_hot"/"ipv6_hot" were first counted 2,000 times on CPU 1 (their per-CPU hot slot). Every
 * timed run is on CPU 0, next to the empty program on the same frame (order alternating by round);
 * printed: median over rounds of (program - empty), and of that minus the floor of the key size
 * (bpf/bench/floor.bpf.c) in the same round.
 *
 *   gcc -O2 -o /tmp/testrun_ab bench/testrun_ab.c -lbpf
 *   sudo /tmp/testrun_ab ROUNDS REPEAT SRC6 DST6 empty.bpf.o floor.bpf.o NAME=OBJ...
 * With WAIT=1 in the environment it loads everything and waits (for bpftool prog dump).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char f6[14 + 40 + 8 + 64], f4[14 + 20 + 8 + 64];

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

/* UDP 40000 -> 9 with 64 bytes of payload, as KernelCostBench's frames. */
static void frames(const char *src6, const char *dst6)
{
	unsigned char *ip = f6 + 14, *ip4 = f4 + 14;

	f6[12] = 0x86, f6[13] = 0xdd;
	ip[0] = 0x60, ip[5] = 72, ip[6] = 17, ip[7] = 64;
	if (inet_pton(AF_INET6, src6, ip + 8) != 1 || inet_pton(AF_INET6, dst6, ip + 24) != 1) {
		fprintf(stderr, "bad IPv6 address\n");
		exit(2);
	}
	ip[40] = 0x9c, ip[41] = 0x40, ip[43] = 9, ip[45] = 72;
	f4[12] = 0x08;
	ip4[0] = 0x45, ip4[3] = 92, ip4[8] = 64, ip4[9] = 17;
	inet_pton(AF_INET, "10.1.0.1", ip4 + 12);
	inet_pton(AF_INET, "10.2.0.1", ip4 + 16);
	ip4[20] = 0x9c, ip4[21] = 0x40, ip4[23] = 9, ip4[25] = 72;
}

static long run(int fd, void *frame, int size, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = size, .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err || (int)o.retval != -1) {
		fprintf(stderr, "test run: %d, retval %d\n", err, (int)o.retval);
		exit(1);
	}
	return o.duration;
}

/* Loads only the program name of path (a fresh set of maps each time). */
static int load(const char *path, const char *name)
{
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	struct bpf_program *p;

	if (!o) {
		perror(path);
		exit(1);
	}
	bpf_object__for_each_program(p, o)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), name));
	if (bpf_object__load(o)) {
		fprintf(stderr, "cannot load %s from %s\n", name, path);
		exit(1);
	}
	return bpf_program__fd(bpf_object__find_program_by_name(o, name));
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *rows[4] = {"ipv6", "ipv6_hot", "ipv4", "ipv4_hot"};
	if (argc < 8) {
		fprintf(stderr, "usage: %s ROUNDS REPEAT SRC6 DST6 empty.bpf.o floor.bpf.o NAME=OBJ...\n", argv[0]);
		return 2;
	}
	int rounds = atoi(argv[1]), repeat = atoi(argv[2]), n = argc - 7;
	frames(argv[3], argv[4]);
	int empty = load(argv[5], "tc_empty"), floor6 = load(argv[6], "tc_floor6"), floor4 = load(argv[6], "tc_floor4");
	int (*fds)[2] = calloc(n, sizeof(*fds));
	char **names = calloc(n, sizeof(*names));
	for (int i = 0; i < n; i++) {
		names[i] = strdup(argv[7 + i]);
		char *eq = strchr(names[i], '=');
		if (!eq) {
			fprintf(stderr, "NAME=OBJ expected: %s\n", names[i]);
			return 2;
		}
		*eq = 0;
		fds[i][0] = load(eq + 1, "tc_ingress");
		fds[i][1] = load(eq + 1, "tc_ingress");
		pin(1); /* the hot object's pairs: counted on another CPU first */
		run(fds[i][1], f6, sizeof(f6), 2000);
		run(fds[i][1], f4, sizeof(f4), 2000);
		pin(0);
		for (int k = 0; k < 2; k++) {
			run(fds[i][k], f6, sizeof(f6), 10000);
			run(fds[i][k], f4, sizeof(f4), 10000);
		}
	}
	if (getenv("WAIT")) {
		printf("loaded, pid %d\n", getpid());
		fflush(stdout);
		pause();
	}
	pin(0);
	int cases = 2 + 4 * n;
	long *d = calloc((size_t)rounds * cases, sizeof(long)), *t = calloc(rounds, sizeof(long));
	for (int r = 0; r < rounds; r++) {
		for (int c0 = 0; c0 < cases; c0++) {
			int c = (c0 + r) % cases, fd, k = (c - 2) % 4;
			int v4 = c < 2 || k >= 2;
			void *frame = v4 ? f4 : f6;
			int size = v4 ? sizeof(f4) : sizeof(f6);
			long e, p;
			fd = c == 0 ? floor6 : c == 1 ? floor4 : fds[(c - 2) / 4][k & 1];
			if (r % 2) {
				e = run(empty, frame, size, repeat);
				p = run(fd, frame, size, repeat);
			} else {
				p = run(fd, frame, size, repeat);
				e = run(empty, frame, size, repeat);
			}
			d[r * cases + c] = p - e;
		}
	}
	for (int c = 0; c < cases; c++) {
		char name[96];
		int floor = c >= 2 && (c - 2) % 4 < 2 ? 0 : 1; /* floor6 for the IPv6 rows */
		if (c < 2)
			snprintf(name, sizeof(name), "%s", c ? "floor4" : "floor6");
		else
			snprintf(name, sizeof(name), "%s:%s", names[(c - 2) / 4], rows[(c - 2) % 4]);
		for (int r = 0; r < rounds; r++)
			t[r] = d[r * cases + c];
		qsort(t, rounds, sizeof(long), cmp_long);
		printf("%-24s added %3ld (IQR %ld-%ld)", name, t[rounds / 2], t[rounds / 4], t[3 * rounds / 4]);
		if (c >= 2) {
			for (int r = 0; r < rounds; r++)
				t[r] = d[r * cases + c] - d[r * cases + floor];
			qsort(t, rounds, sizeof(long), cmp_long);
			printf("  minus floor %+ld (IQR %+ld..%+ld)", t[rounds / 2], t[rounds / 4], t[3 * rounds / 4]);
		}
		printf("\n");
	}
	return 0;
}
