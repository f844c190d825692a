// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Spoofed-source flood for FloodTest: sends IPv4/UDP frames of one length from many source
 * addresses to one destination, through an AF_PACKET socket with sendmmsg(2).
 *
 *   flood IFACE DST_MAC SRC_MAC DST_IP SRC_BASE SOURCES ROUNDS FRAME_LEN
 *
 * Sends ROUNDS rounds; each round sends one frame from every source SRC_BASE + p(i), i < SOURCES,
 * where p is a fixed permutation (i * 40503 mod SOURCES, SOURCES not a multiple of 40503's
 * factors), so consecutive frames come from scattered addresses, as in a real spoofed flood.
 * Frames are FRAME_LEN bytes (>= 42) including the 14-byte Ethernet header; the IPv4 header
 * checksum is correct. Prints "sent FRAMES frames from SOURCES sources, FRAME_LEN bytes each"
 * and exits 0 only when every frame was accepted by the kernel.
 *
 * Run it inside the sending network namespace (ip netns exec NS flood ...).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
#define STRIDE 40503u /* prime */

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static uint16_t ip_checksum(const void *hdr, size_t len)
{
	const uint16_t *p = hdr;
	uint32_t sum = 0;

	for (size_t i = 0; i < len / 2; i++)
		sum += p[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void usage(void)
{
	fprintf(stderr, "usage: flood IFACE DST_MAC SRC_MAC DST_IP SRC_BASE SOURCES ROUNDS FRAME_LEN\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint8_t dmac[6], smac[6];
	struct in_addr dst, base;

	if (argc != 9)
		usage();
	const char *ifname = argv[1];
	if (parse_mac(argv[2], dmac) || parse_mac(argv[3], smac) || inet_pton(AF_INET, argv[4], &dst) != 1 ||
	    inet_pton(AF_INET, argv[5], &base) != 1)
		usage();
	uint32_t sources = (uint32_t)strtoul(argv[6], NULL, 10);
	uint32_t rounds = (uint32_t)strtoul(argv[7], NULL, 10);
	uint32_t len = (uint32_t)strtoul(argv[8], NULL, 10);
	if (sources == 0 || sources % STRIDE == 0 || rounds == 0 || len < 42 || len > 1514)
		usage();

	unsigned int ifindex = if_nametoindex(ifname);
	if (ifindex == 0) {
		perror("if_nametoindex");
		return 1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, receive nothing */
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = (int)ifindex,
		.sll_halen = 6,
	};
	memcpy(sll.sll_addr, dmac, 6);
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	static uint8_t frames[BATCH][1514];
	static struct iovec iov[BATCH];
	static struct mmsghdr msgs[BATCH];
	for (int i = 0; i < BATCH; i++) {
		uint8_t *f = frames[i];
		memset(f, 0, len);
		memcpy(f, dmac, 6);
		memcpy(f + 6, smac, 6);
		f[12] = 0x08;
		f[13] = 0x00;
		struct iphdr *ip = (struct iphdr *)(f + 14);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((uint16_t)(len - 14));
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->daddr = dst.s_addr;
		struct udphdr *udp = (struct udphdr *)(f + 34);
		udp->source = htons(40000);
		udp->dest = htons(9); /* discard */
		udp->len = htons((uint16_t)(len - 34));
		iov[i].iov_base = f;
		iov[i].iov_len = len;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &sll;
		msgs[i].msg_hdr.msg_namelen = sizeof(sll);
	}

	uint64_t total = (uint64_t)sources * rounds, sent = 0, retries = 0;
	uint32_t base_h = ntohl(base.s_addr);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (sent < total) {
		unsigned int n = total - sent < BATCH ? (unsigned int)(total - sent) : BATCH;
		for (unsigned int j = 0; j < n; j++) {
			uint32_t i = (uint32_t)((sent + j) % sources);
			uint32_t src = base_h + (uint32_t)(((uint64_t)i * STRIDE) % sources);
			struct iphdr *ip = (struct iphdr *)(frames[j] + 14);
			ip->saddr = htonl(src);
			ip->id = htons((uint16_t)(sent + j));
			ip->check = 0;
			ip->check = ip_checksum(ip, 20);
		}
		unsigned int done = 0;
		while (done < n) {
			int r = sendmmsg(fd, msgs + done, n - done, 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
					retries++;
					usleep(50);
					continue;
				}
				perror("sendmmsg");
				fprintf(stderr, "sent %llu frames before the error\n", (unsigned long long)(sent + done));
				return 1;
			}
			done += (unsigned int)r;
		}
		sent += n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sent %llu frames from %u sources, %u bytes each, in %.3f s (%.0f frames/s, %llu retries)\n",
	       (unsigned long long)sent, sources, len, secs, (double)sent / secs, (unsigned long long)retries);
	close(fd);
	return 0;
}
