package dev.ebpftraffic.bpf;

import dev.ebpftraffic.bpf.ProgTestRun.Outcome;
import dev.ebpftraffic.bpf.ProgTestRun.Skb;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.IpClass;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ETH_P_8021AD;
import static dev.ebpftraffic.testing.Frames.ETH_P_8021Q;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static dev.ebpftraffic.testing.Frames.truncate;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs tc_ingress / tc_egress with BPF_PROG_TEST_RUN on crafted frames and checks the exact contents
 * of the "flows" and "stats" maps afterwards: every key, exact packets and bytes, no extra entries.
 * Each test loads its own object, so the maps start empty.
 *
 * <p>The ifindex in every key is loopback's: a SCHED_CLS test run builds its skb on the calling
 * thread's netns loopback device unless the ctx names an ifindex > 1 (net/bpf/test_run.c), and the
 * program keys by skb->ifindex, i.e. skb->dev->ifindex.
 *
 * <p>Public addresses (1.1.1.1, 8.8.8.8, 2606:4700::1111) appear only inside these frames, which
 * never leave the test run.
 */
@KernelTest
class TrafficProgTestRunTest {

    // ---- helpers ------------------------------------------------------------------------------

    static int lo() {
        return ProgTestRun.loopbackIfindex();
    }

    static FlowKey flow(Direction dir, String src, String dst) {
        return FlowKey.of(lo(), dir, IpAddress.parse(src), IpAddress.parse(dst));
    }

    static StatKey stat(Direction dir, KernelStat stat) {
        return new StatKey(lo(), dir, stat);
    }

    static FlowValue v(long packets, long bytes) {
        return new FlowValue(packets, bytes);
    }

    static final Map<FlowKey, FlowValue> NO_FLOWS = Map.of();
    static final Map<StatKey, FlowValue> NO_STATS = Map.of();

    // ---- IPv4 / IPv6 / VLAN on both programs --------------------------------------------------

    @Test
    void ipv4UdpOnIngressAndEgress() {
        byte[] in = ethernet().ipv4("1.1.1.1", "10.0.0.2").udp(53, 40000).payload(100).build();
        byte[] out = ethernet().ipv4("10.0.0.2", "8.8.8.8").udp(40001, 53).payload(37).build();
        assertEquals(14 + 20 + 8 + 100, in.length);
        assertEquals(14 + 20 + 8 + 37, out.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, in);
            t.run(OUTBOUND, out);
            t.assertMaps(Map.of(
                    flow(INBOUND, "1.1.1.1", "10.0.0.2"), v(1, 142),
                    flow(OUTBOUND, "10.0.0.2", "8.8.8.8"), v(1, 79)), NO_STATS);
        }
    }

    @Test
    void sameAddressesOnIngressAndEgressAreTwoKeysAndSrcDstOrderMatters() {
        byte[] a = ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1000, 443).payload(10).build();
        byte[] b = ethernet().ipv4("1.1.1.1", "10.0.0.1").tcp(443, 1000).payload(20).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, a);
            t.run(OUTBOUND, a);
            t.run(INBOUND, b);
            t.assertMaps(Map.of(
                    flow(INBOUND, "10.0.0.1", "1.1.1.1"), v(1, a.length),
                    flow(OUTBOUND, "10.0.0.1", "1.1.1.1"), v(1, a.length),
                    flow(INBOUND, "1.1.1.1", "10.0.0.1"), v(1, b.length)), NO_STATS);
        }
    }

    /** IHL 6..15: the options are part of the frame, so of skb->len; the key is still the addresses. */
    @ParameterizedTest(name = "{0} option bytes")
    @ValueSource(ints = {4, 8, 12, 16, 20, 24, 28, 32, 36, 40})
    void ipv4WithOptions(int optionBytes) {
        byte[] f = ethernet().ipv4("192.168.1.10", "8.8.8.8").ipv4Options(optionBytes).udp(5000, 53).payload(30).build();
        assertEquals(5 + optionBytes / 4, f[14] & 0x0f, "IHL");
        assertEquals(0, Frames.checksum(f, 14, 14 + 20 + optionBytes), "IPv4 header checksum");
        assertEquals(14 + 20 + optionBytes + 8 + 30, f.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.run(OUTBOUND, f);
            t.run(OUTBOUND, f);
            t.assertMaps(Map.of(
                    flow(INBOUND, "192.168.1.10", "8.8.8.8"), v(1, f.length),
                    flow(OUTBOUND, "192.168.1.10", "8.8.8.8"), v(2, 2L * f.length)), NO_STATS);
        }
    }

    @Test
    void ipv4HeaderEndingExactlyAtTheFrameEndIsAFlow() {
        byte[] bare = ethernet().ipv4("10.1.1.1", "10.2.2.2").build(); // IPPROTO_NONE, no L4
        byte[] withOptions = ethernet().ipv4("10.1.1.1", "10.3.3.3").ipv4Options(4).build();
        assertEquals(34, bare.length);
        assertEquals(38, withOptions.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, bare);
            t.run(INBOUND, withOptions);
            t.assertMaps(Map.of(
                    flow(INBOUND, "10.1.1.1", "10.2.2.2"), v(1, 34),
                    flow(INBOUND, "10.1.1.1", "10.3.3.3"), v(1, 38)), NO_STATS);
        }
    }

    @Test
    void ipv6UdpAndIcmp() {
        byte[] udp = ethernet().ipv6("2606:4700::1111", "fd00::2").udp(53, 50000).payload(64).build();
        byte[] icmp = ethernet().ipv6("fd00::2", "2606:4700::1111").echoRequest().payload(56).build();
        byte[] icmp4 = ethernet().ipv4("10.0.0.2", "1.1.1.1").echoRequest().payload(56).build();
        assertEquals(14 + 40 + 8 + 64, udp.length);
        assertEquals(14 + 40 + 8 + 56, icmp.length);
        assertEquals(14 + 20 + 8 + 56, icmp4.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, udp);
            t.run(OUTBOUND, icmp);
            t.run(OUTBOUND, icmp4);
            t.assertMaps(Map.of(
                    flow(INBOUND, "2606:4700::1111", "fd00::2"), v(1, 126),
                    flow(OUTBOUND, "fd00::2", "2606:4700::1111"), v(1, 118),
                    flow(OUTBOUND, "10.0.0.2", "1.1.1.1"), v(1, 98)), NO_STATS);
        }
    }

    @Test
    void ipv6HeaderEndingExactlyAtTheFrameEndIsAFlow() {
        byte[] f = ethernet().ipv6("2001:db8::1", "2001:db8::2").build();
        assertEquals(54, f.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, f);
            t.assertMaps(Map.of(flow(OUTBOUND, "2001:db8::1", "2001:db8::2"), v(1, 54)), NO_STATS);
        }
    }

    static Stream<Arguments> ipv6ExtensionChains() {
        return Stream.of(
                Arguments.of("hop-by-hop", ethernet().ipv6("2001:db8::1", "2606:4700::1111").hopByHop(8).udp(1, 2).payload(10), 8),
                Arguments.of("routing", ethernet().ipv6("2001:db8::1", "2606:4700::1111").routing().udp(1, 2).payload(10), 24),
                Arguments.of("fragment", ethernet().ipv6("2001:db8::1", "2606:4700::1111").fragment().udp(1, 2).payload(10), 8),
                Arguments.of("destination options", ethernet().ipv6("2001:db8::1", "2606:4700::1111").destinationOptions(16).udp(1, 2).payload(10), 16),
                Arguments.of("authentication header", ethernet().ipv6("2001:db8::1", "2606:4700::1111").authenticationHeader().tcp(1, 2).payload(10), 24),
                Arguments.of("all six", ethernet().ipv6("2001:db8::1", "2606:4700::1111").hopByHop(8).destinationOptions(8)
                        .routing().fragment().authenticationHeader().destinationOptions(24).tcp(1, 2, 12).payload(10), 8 + 8 + 24 + 8 + 24 + 24));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("ipv6ExtensionChains")
    void ipv6WithExtensionHeaders(String name, Frames.Builder b, int extBytes) {
        byte[] f = b.build();
        int l4 = f.length - 14 - 40 - extBytes - 10; // the L4 header
        assertTrue(l4 == 8 || l4 == 20 || l4 == 32, "L4 header length " + l4);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.run(OUTBOUND, f);
            t.assertMaps(Map.of(
                    flow(INBOUND, "2001:db8::1", "2606:4700::1111"), v(1, f.length),
                    flow(OUTBOUND, "2001:db8::1", "2606:4700::1111"), v(1, f.length)), NO_STATS);
        }
    }

    static Stream<Arguments> vlanTags() {
        return Stream.of(
                Arguments.of("802.1Q", new int[] {ETH_P_8021Q}),
                Arguments.of("802.1ad", new int[] {ETH_P_8021AD}),
                Arguments.of("QinQ 802.1ad+802.1Q", new int[] {ETH_P_8021AD, ETH_P_8021Q}),
                Arguments.of("QinQ 802.1Q+802.1Q", new int[] {ETH_P_8021Q, ETH_P_8021Q}));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vlanTags")
    void vlanTaggedIpv4AndIpv6(String name, int[] tpids) {
        Frames.Builder b4 = ethernet();
        Frames.Builder b6 = ethernet();
        for (int i = 0; i < tpids.length; i++) {
            b4.vlan(tpids[i], 100 + i);
            b6.vlan(tpids[i], 200 + i);
        }
        byte[] f4 = b4.ipv4("172.16.5.5", "1.1.1.1").tcp(40000, 443, 12).payload(77).build();
        byte[] f6 = b6.ipv6("fe80::1", "2606:4700::1111").hopByHop(8).udp(546, 547).payload(33).build();
        assertEquals(14 + 4 * tpids.length + 20 + 32 + 77, f4.length);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f4);
            t.run(OUTBOUND, f4);
            t.run(OUTBOUND, f6);
            t.assertMaps(Map.of(
                    flow(INBOUND, "172.16.5.5", "1.1.1.1"), v(1, f4.length),
                    flow(OUTBOUND, "172.16.5.5", "1.1.1.1"), v(1, f4.length),
                    flow(OUTBOUND, "fe80::1", "2606:4700::1111"), v(1, f6.length)), NO_STATS);
        }
    }

    /** Only MAX_VLAN_TAGS (2) tags are skipped: behind a third one the program sees a VLAN ethertype. */
    @Test
    void threeVlanTagsAreNotIp() {
        byte[] f = ethernet().vlan(ETH_P_8021AD, 1).vlan(2).vlan(3).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.assertMaps(NO_FLOWS, Map.of(stat(INBOUND, KernelStat.NON_IP), v(1, f.length)));
        }
    }

    // ---- repetition ---------------------------------------------------------------------------

    @Test
    void sameFlowRepeatedIsOneEntryWithNPackets() {
        byte[] f = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(5353, 53).payload(211).build();
        byte[] g = ethernet().ipv6("fd00::1", "2606:4700::1111").tcp(1, 443).payload(1000).build();
        int n = 37;
        try (ProgTestRun t = ProgTestRun.load()) {
            for (int i = 0; i < n; i++) {
                t.run(OUTBOUND, f);
            }
            t.run(INBOUND, g, null, 250); // the kernel runs the program 250 times on the same skb
            t.assertMaps(Map.of(
                    flow(OUTBOUND, "10.0.0.1", "8.8.8.8"), v(n, (long) n * f.length),
                    flow(INBOUND, "fd00::1", "2606:4700::1111"), v(250, 250L * g.length)), NO_STATS);
        }
    }

    // ---- malformed and non-IP -----------------------------------------------------------------

    /**
     * Frames the program must count as MALFORMED. Truncated IP headers sit behind a VLAN tag here: for an
     * untagged frame whose ethertype is IPv4/IPv6 the kernel itself refuses a test run when the IP header
     * is short (see {@link #shortUntaggedIpFrames}), but with a tag skb->protocol is 0x8100 and the frame
     * reaches the program.
     */
    static Stream<Arguments> malformed() {
        byte[] vlan4 = ethernet().vlan(7).ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(20).build();
        byte[] vlan6 = ethernet().vlan(ETH_P_8021AD, 7).ipv6("fd00::1", "2606:4700::1111").udp(1, 2).payload(20).build();
        byte[] qinq4 = ethernet().vlan(ETH_P_8021AD, 7).vlan(8).ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(20).build();
        byte[] qinq6 = ethernet().vlan(ETH_P_8021AD, 7).vlan(8).ipv6("fd00::1", "2606:4700::1111").udp(1, 2).payload(20).build();
        byte[] opts4 = ethernet().ipv4("10.0.0.1", "1.1.1.1").ipv4Options(8).build(); // 14 + 28, no L4
        return Stream.of(
                Arguments.of("cut inside the IPv4 options", truncate(opts4, 14 + 24)),
                Arguments.of("cut inside the IPv4 options (one byte short)", truncate(opts4, 14 + 27)),
                Arguments.of("IHL 15 but a 20-byte header and 8 bytes of UDP", ethernet().ipv4("10.0.0.1", "1.1.1.1").ihl(15).udp(1, 2).build()),
                Arguments.of("IHL 4", ethernet().ipv4("10.0.0.1", "1.1.1.1").ihl(4).udp(1, 2).payload(20).build()),
                Arguments.of("IHL 0", ethernet().ipv4("10.0.0.1", "1.1.1.1").ihl(0).udp(1, 2).payload(20).build()),
                Arguments.of("version 6 in an IPv4 ethertype", ethernet().ipv4("10.0.0.1", "1.1.1.1").ipVersion(6).udp(1, 2).payload(20).build()),
                Arguments.of("version 0 in an IPv4 ethertype", ethernet().ipv4("10.0.0.1", "1.1.1.1").ipVersion(0).udp(1, 2).payload(20).build()),
                Arguments.of("version 4 in an IPv6 ethertype", ethernet().ipv6("fd00::1", "fd00::2").ipVersion(4).udp(1, 2).payload(20).build()),
                Arguments.of("VLAN ethertype, no tag", truncate(vlan4, 14)),
                Arguments.of("cut inside the VLAN tag", truncate(vlan4, 16)),
                Arguments.of("cut inside the second VLAN tag", truncate(qinq4, 20)),
                Arguments.of("VLAN tag, no IPv4 header", truncate(vlan4, 18)),
                Arguments.of("VLAN tag, cut inside the IPv4 header (1 byte)", truncate(vlan4, 18 + 1)),
                Arguments.of("VLAN tag, cut inside the IPv4 header (10 bytes)", truncate(vlan4, 18 + 10)),
                Arguments.of("VLAN tag, cut inside the IPv4 header (19 bytes)", truncate(vlan4, 18 + 19)),
                Arguments.of("QinQ, cut inside the IPv4 header", truncate(qinq4, 22 + 19)),
                Arguments.of("VLAN tag, IHL 4", ethernet().vlan(7).ipv4("10.0.0.1", "1.1.1.1").ihl(4).udp(1, 2).build()),
                Arguments.of("VLAN tag, no IPv6 header", truncate(vlan6, 18)),
                Arguments.of("VLAN tag, cut inside the IPv6 header (20 bytes)", truncate(vlan6, 18 + 20)),
                Arguments.of("VLAN tag, cut inside the IPv6 header (39 bytes)", truncate(vlan6, 18 + 39)),
                Arguments.of("QinQ, cut inside the IPv6 header (39 bytes)", truncate(qinq6, 22 + 39)),
                Arguments.of("VLAN tag, version 6 in an IPv4 ethertype", ethernet().vlan(7).ipv4("10.0.0.1", "1.1.1.1").ipVersion(6).build()),
                Arguments.of("IHL 6, frame ends after the fixed 20 bytes", truncate(ethernet().ipv4("10.0.0.1", "1.1.1.1").ipv4Options(4).build(), 14 + 20)),
                Arguments.of("IHL 6 claimed, IHL 5 header, frame ends after it", ethernet().ipv4("10.0.0.1", "1.1.1.1").ihl(6).build()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void truncatedOrInvalidFramesAreMalformed(String name, byte[] f) {
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.run(OUTBOUND, f);
            t.run(OUTBOUND, f);
            t.assertMaps(NO_FLOWS, Map.of(
                    stat(INBOUND, KernelStat.MALFORMED), v(1, f.length),
                    stat(OUTBOUND, KernelStat.MALFORMED), v(2, 2L * f.length)));
        }
    }

    @Test
    void malformedFramesAddUp() {
        List<byte[]> frames = malformed().map(a -> (byte[]) a.get()[1]).toList();
        long bytes = frames.stream().mapToLong(f -> f.length).sum();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (byte[] f : frames) {
                t.run(INBOUND, f);
            }
            t.assertMaps(NO_FLOWS, Map.of(stat(INBOUND, KernelStat.MALFORMED), v(frames.size(), bytes)));
        }
    }

    static Stream<Arguments> shortUntaggedIp() {
        byte[] udp4 = ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(20).build();
        byte[] udp6 = ethernet().ipv6("fd00::1", "2606:4700::1111").udp(1, 2).payload(20).build();
        return Stream.of(
                Arguments.of("IPv4 ethertype, no IPv4 header", truncate(udp4, 14)),
                Arguments.of("cut inside the IPv4 header (1 byte)", truncate(udp4, 15)),
                Arguments.of("cut inside the IPv4 header (10 bytes)", truncate(udp4, 24)),
                Arguments.of("cut inside the IPv4 header (19 bytes)", truncate(udp4, 33)),
                Arguments.of("IPv6 ethertype, no IPv6 header", truncate(udp6, 14)),
                Arguments.of("cut inside the IPv6 header (20 bytes)", truncate(udp6, 34)),
                Arguments.of("cut inside the IPv6 header (39 bytes)", truncate(udp6, 53)));
    }

    /**
     * Untagged frames with an IPv4/IPv6 ethertype but a short IP header. Kernels with upstream commit
     * 12bec2bd4b76 ("bpf: reject short IPv4/IPv6 inputs in bpf_prog_test_run_skb", 2026, backported to
     * stable; 6.18.44 here has it) refuse them with EINVAL before the program runs, so nothing may be
     * counted; older kernels run the program, which must count MALFORMED. Either way the result is exact.
     * The program's truncated-IP paths are covered on every kernel by the VLAN-tagged cases in
     * {@link #malformed()}.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("shortUntaggedIp")
    void shortUntaggedIpFrames(String name, byte[] f) {
        try (ProgTestRun t = ProgTestRun.load()) {
            Outcome o = t.tryRun(INBOUND, f, null, 0, 0, 0);
            if (o.err() == -Errno.EINVAL) {
                t.assertMaps(NO_FLOWS, NO_STATS);
            } else {
                assertEquals(0, o.err());
                assertEquals(ProgTestRun.TC_ACT_UNSPEC, o.retval());
                assertArrayEquals(f, o.dataOut());
                t.assertMaps(NO_FLOWS, Map.of(stat(INBOUND, KernelStat.MALFORMED), v(1, f.length)));
            }
        }
    }

    /**
     * A frame shorter than an Ethernet header never reaches the program: the kernel refuses a test run
     * with data_size_in < ETH_HLEN (EINVAL, bpf_test_init). The program's own "no Ethernet header"
     * branch cannot be reached this way (nor at the TC hook, where every skb has its L2 header).
     */
    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {0, 1, 6, 13})
    void framesShorterThanEthernetAreRefusedByTheKernel(int len) {
        byte[] f = truncate(ethernet().ipv4("10.0.0.1", "10.0.0.2").build(), len);
        try (ProgTestRun t = ProgTestRun.load()) {
            Outcome o = t.tryRun(INBOUND, f, null, 0, 0, 0);
            assertEquals(-Errno.EINVAL, o.err());
            t.assertMaps(NO_FLOWS, NO_STATS);
        }
    }

    static Stream<Arguments> nonIp() {
        return Stream.of(
                Arguments.of("ARP", ethernet().arp("10.0.0.1", "10.0.0.2").build()),
                Arguments.of("LLDP", ethernet().lldp().build()),
                Arguments.of("ARP behind a VLAN tag", ethernet().vlan(42).arp("10.0.0.1", "10.0.0.2").build()),
                Arguments.of("LLDP behind QinQ", ethernet().vlan(ETH_P_8021AD, 1).vlan(2).lldp().build()),
                Arguments.of("802.3 length field (LLC)", ethernet().etherType(38, new byte[38]).build()),
                Arguments.of("MPLS, a pseudowire control word after the bottom label", ethernet().etherType(0x8847, new byte[] {0, 0, 0x11, 0x40, 0, 0, 0, 20}).build()),
                Arguments.of("bare Ethernet header, ARP", truncate(ethernet().arp("10.0.0.1", "10.0.0.2").build(), 14)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("nonIp")
    void nonIpFramesGoToNonIp(String name, byte[] f) {
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.run(INBOUND, f);
            t.run(OUTBOUND, f);
            t.assertMaps(NO_FLOWS, Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(2, 2L * f.length),
                    stat(OUTBOUND, KernelStat.NON_IP), v(1, f.length)));
        }
    }

    @Test
    void mixedTrafficLandsInTheRightPlaces() {
        byte[] ip = ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(5).build();
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        byte[] lldp = ethernet().lldp().build();
        byte[] bad = ethernet().ipv4("10.0.0.1", "1.1.1.1").ihl(3).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, ip);
            t.run(INBOUND, arp);
            t.run(INBOUND, lldp);
            t.run(INBOUND, bad);
            t.run(OUTBOUND, bad);
            t.assertMaps(Map.of(flow(INBOUND, "10.0.0.1", "1.1.1.1"), v(1, ip.length)), Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(2, arp.length + lldp.length),
                    stat(INBOUND, KernelStat.MALFORMED), v(1, bad.length),
                    stat(OUTBOUND, KernelStat.MALFORMED), v(1, bad.length)));
        }
    }

    // ---- GSO ----------------------------------------------------------------------------------

    /**
     * name, frame builder (payload added here), gso_segs, and the header length every extra segment
     * repeats: L2 (incl. VLAN tags) + L3 (incl. options / extension headers) + L4 (TCP doff*4, UDP 8, else 0).
     */
    static Stream<Arguments> gso() {
        return Stream.of(
                Arguments.of("IPv4 TCP", ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443), 4, 14 + 20 + 20),
                Arguments.of("IPv4 TCP, 12 option bytes", ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443, 12), 4, 14 + 20 + 32),
                Arguments.of("IPv4 TCP, 40 option bytes", ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443, 40), 3, 14 + 20 + 60),
                Arguments.of("IPv4 with 8 option bytes, TCP", ethernet().ipv4("10.0.0.1", "1.1.1.1").ipv4Options(8).tcp(1, 443), 4, 14 + 28 + 20),
                Arguments.of("IPv4 with 40 option bytes, TCP with 20", ethernet().ipv4("10.0.0.1", "1.1.1.1").ipv4Options(40).tcp(1, 443, 20), 2, 14 + 60 + 40),
                Arguments.of("IPv4 UDP", ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 443), 3, 14 + 20 + 8),
                Arguments.of("IPv4 ICMP (no L4 header counted)", ethernet().ipv4("10.0.0.1", "8.8.8.8").echoRequest(), 2, 14 + 20),
                Arguments.of("IPv6 TCP", ethernet().ipv6("fd00::1", "2606:4700::1111").tcp(1, 443), 4, 14 + 40 + 20),
                Arguments.of("IPv6 UDP", ethernet().ipv6("fd00::1", "2606:4700::1111").udp(1, 443), 5, 14 + 40 + 8),
                Arguments.of("IPv6 hop-by-hop, TCP with options", ethernet().ipv6("fd00::1", "2606:4700::1111").hopByHop(8).tcp(1, 443, 12), 4, 14 + 48 + 32),
                Arguments.of("IPv6 fragment + dest options, TCP", ethernet().ipv6("fd00::1", "2606:4700::1111").fragment().destinationOptions(16).tcp(1, 443), 4, 14 + 40 + 8 + 16 + 20),
                Arguments.of("IPv6 AH, TCP", ethernet().ipv6("fd00::1", "2606:4700::1111").authenticationHeader().tcp(1, 443), 4, 14 + 40 + 24 + 20),
                Arguments.of("IPv6 routing + AH, UDP", ethernet().ipv6("fd00::1", "2606:4700::1111").routing().authenticationHeader().udp(1, 443), 3, 14 + 40 + 24 + 24 + 8),
                Arguments.of("802.1Q, IPv4 TCP", ethernet().vlan(10).ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443), 4, 18 + 20 + 20),
                Arguments.of("QinQ, IPv4 UDP", ethernet().vlan(ETH_P_8021AD, 10).vlan(20).ipv4("10.0.0.1", "1.1.1.1").udp(1, 443), 4, 22 + 20 + 8),
                Arguments.of("QinQ, IPv6 hop-by-hop, TCP", ethernet().vlan(ETH_P_8021AD, 10).vlan(20).ipv6("fd00::1", "2606:4700::1111").hopByHop(16).tcp(1, 443, 8), 4, 22 + 40 + 16 + 28));
    }

    @ParameterizedTest(name = "{0}, gso_segs {2}")
    @MethodSource("gso")
    void gsoCountsWirePacketsAndRepeatedHeaders(String name, Frames.Builder b, int segs, int headerLen) {
        int gsoSize = 500;
        byte[] f = b.payload(gsoSize * (segs - 1) + 123).build();
        IpAddress[] addrs = addresses(f);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f, Skb.gso(segs, gsoSize));
            t.run(OUTBOUND, f, Skb.gso(segs, gsoSize));
            t.run(OUTBOUND, f); // the same frame without GSO: one packet, its length
            long gsoBytes = f.length + (long) (segs - 1) * headerLen;
            t.assertMaps(Map.of(
                    FlowKey.of(lo(), INBOUND, addrs[0], addrs[1]), v(segs, gsoBytes),
                    FlowKey.of(lo(), OUTBOUND, addrs[0], addrs[1]), v(segs + 1, gsoBytes + f.length)), NO_STATS);
        }
    }

    @ParameterizedTest(name = "{0}, gso_segs 0 (untrusted GSO), worked out as {2}")
    @MethodSource("gso")
    void untrustedGsoWithoutSegmentCountIsWorkedOutFromGsoSize(String name, Frames.Builder b, int segs, int headerLen) {
        int gsoSize = 500;
        byte[] f = b.payload(gsoSize * (segs - 1) + 123).build(); // the last segment carries the rest
        IpAddress[] addrs = addresses(f);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f, Skb.gso(0, gsoSize));
            t.assertMaps(Map.of(FlowKey.of(lo(), INBOUND, addrs[0], addrs[1]),
                    v(segs, f.length + (long) (segs - 1) * headerLen)), NO_STATS);
        }
    }

    @Test
    void gsoSegsZeroOrOneIsOnePacket() {
        byte[] f = ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443).payload(300).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f, Skb.gso(0, 0));
            t.run(INBOUND, f, Skb.gso(1, 300));
            t.assertMaps(Map.of(flow(INBOUND, "10.0.0.1", "1.1.1.1"), v(2, 2L * f.length)), NO_STATS);
        }
    }

    @Test
    void gsoOnMalformedAndNonIpCountsSegmentsButNoHeaders() {
        byte[] bad = truncate(ethernet().vlan(5).ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443).payload(1000).build(), 30);
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, bad, Skb.gso(4, 500));
            t.run(OUTBOUND, arp, Skb.gso(3, 10));
            t.assertMaps(NO_FLOWS, Map.of(
                    stat(INBOUND, KernelStat.MALFORMED), v(4, bad.length),
                    stat(OUTBOUND, KernelStat.NON_IP), v(3, arp.length)));
        }
    }

    @Test
    void gsoSegsAboveTheKernelMaximumAreRefused() {
        byte[] f = ethernet().ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443).payload(10).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            // GSO_MAX_SEGS is 65535: test_run refuses more with EINVAL before the program runs.
            assertEquals(-Errno.EINVAL, t.tryRun(INBOUND, f, Skb.gso(65536, 100), 0, 0, 0).err());
            t.run(INBOUND, f, Skb.gso(65535, 100));
            t.assertMaps(Map.of(flow(INBOUND, "10.0.0.1", "1.1.1.1"),
                    v(65535, f.length + 65534L * (14 + 20 + 20))), NO_STATS);
        }
    }

    /** The two addresses of an untagged or tagged IPv4/IPv6 frame built by Frames, as the program keys them. */
    static IpAddress[] addresses(byte[] f) {
        int off = 12;
        int type = ((f[off] & 0xff) << 8) | (f[off + 1] & 0xff);
        while (type == ETH_P_8021Q || type == ETH_P_8021AD) {
            off += 4;
            type = ((f[off] & 0xff) << 8) | (f[off + 1] & 0xff);
        }
        int ip = off + 2;
        if (type == Frames.ETH_P_IP) {
            return new IpAddress[] {
                    IpAddress.ofBytes(java.util.Arrays.copyOfRange(f, ip + 12, ip + 16)),
                    IpAddress.ofBytes(java.util.Arrays.copyOfRange(f, ip + 16, ip + 20))};
        }
        return new IpAddress[] {
                IpAddress.ofBytes(java.util.Arrays.copyOfRange(f, ip + 8, ip + 24)),
                IpAddress.ofBytes(java.util.Arrays.copyOfRange(f, ip + 24, ip + 40))};
    }

    // ---- ifindex --------------------------------------------------------------------------------

    @Test
    void ifindexIsLoopbacksWhenTheCtxNamesNoneAboveOne() {
        assertEquals(1, lo(), "loopback is always ifindex 1 in a network namespace");
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);                  // no ctx at all
            t.run(INBOUND, f, Skb.ifindex(1));  // ctx ifindex 1 (<= 1: loopback kept)
            t.run(INBOUND, arp, Skb.ifindex(0));
            t.assertMaps(Map.of(FlowKey.of(1, INBOUND, IpAddress.parse("10.0.0.1"), IpAddress.parse("10.0.0.2")), v(2, 2L * f.length)),
                    Map.of(new StatKey(1, INBOUND, KernelStat.NON_IP), v(1, arp.length)));
        }
    }

    @Test
    void unknownCtxIfindexIsRefusedByTheKernel() {
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            assertEquals(-Errno.ENODEV, t.tryRun(INBOUND, f, Skb.ifindex(Integer.MAX_VALUE), 0, 0, 0).err());
            t.assertMaps(NO_FLOWS, NO_STATS);
        }
    }

    // ---- full flows map ---------------------------------------------------------------------------

    @Test
    void fullFlowsMapCountsTheRestAsOverflowByDestinationClass() {
        byte[] f1 = ethernet().ipv4("1.1.1.1", "10.0.0.1").udp(53, 1).payload(10).build();        // private dst
        byte[] f2 = ethernet().ipv4("10.0.0.1", "8.8.8.8").udp(1, 53).payload(20).build();        // public dst
        byte[] f3 = ethernet().ipv6("2606:4700::1111", "fd00::1").udp(53, 1).payload(30).build(); // private dst
        byte[] f4 = ethernet().ipv6("fd00::1", "2606:4700::1111").udp(1, 53).payload(40).build(); // public dst
        byte[] o1 = ethernet().ipv4("8.8.8.8", "192.168.1.1").udp(53, 1).payload(50).build();     // private dst
        byte[] o2 = ethernet().ipv4("192.168.1.1", "1.1.1.1").udp(1, 53).payload(60).build();     // public dst
        byte[] o3 = ethernet().ipv6("2606:4700::1111", "fe80::1").tcp(443, 1).payload(70).build(); // private dst (link local)
        byte[] o4 = ethernet().ipv4("10.0.0.1", "100.64.0.1").tcp(1, 443).payload(80).build();     // private dst (CGNAT)
        byte[] o5 = ethernet().ipv4("10.0.0.1", "192.0.2.1").tcp(1, 443).payload(90).build();      // documentation: public
        try (ProgTestRun t = ProgTestRun.load(2)) {
            assertEquals(2, t.object().maxEntries(BpfObject.MAP_FLOWS4));
            assertEquals(2, t.object().maxEntries(BpfObject.MAP_FLOWS6));
            t.run(INBOUND, f1);
            t.run(OUTBOUND, f2);
            t.run(INBOUND, f3);
            t.run(OUTBOUND, f4);
            // Both maps (IPv4 and IPv6, two entries each) are full now.
            t.run(INBOUND, o1);
            t.run(INBOUND, o2);
            t.run(OUTBOUND, o1);
            t.run(OUTBOUND, o2, Skb.gso(3, 40)); // overflow bytes include the GSO headers too
            t.run(INBOUND, o3);
            t.run(OUTBOUND, o4);
            t.run(OUTBOUND, o5);
            // Existing flows still count.
            t.run(INBOUND, f1);
            t.run(OUTBOUND, f4, Skb.gso(2, 20));
            // A known flow in the other direction is a new key: overflow.
            t.run(OUTBOUND, f1);
            t.assertMaps(Map.of(
                    flow(INBOUND, "1.1.1.1", "10.0.0.1"), v(2, 2L * f1.length),
                    flow(OUTBOUND, "10.0.0.1", "8.8.8.8"), v(1, f2.length),
                    flow(INBOUND, "2606:4700::1111", "fd00::1"), v(1, f3.length),
                    flow(OUTBOUND, "fd00::1", "2606:4700::1111"), v(3, 2L * f4.length + (14 + 40 + 8))),
                    Map.of(
                    stat(INBOUND, KernelStat.OVERFLOW_PRIVATE), v(2, o1.length + o3.length),
                    stat(INBOUND, KernelStat.OVERFLOW_PUBLIC), v(1, o2.length),
                    stat(OUTBOUND, KernelStat.OVERFLOW_PRIVATE), v(3, o1.length + o4.length + f1.length),
                    stat(OUTBOUND, KernelStat.OVERFLOW_PUBLIC), v(4, o2.length + 2L * (14 + 20 + 8) + o5.length)));
        }
    }

    /**
     * The overflow path classifies dst_ip in the kernel (is_private); it must agree with IpClass, which
     * labels the flows userspace reads. One flow fills each 1-entry map (IPv4, IPv6), then the probe overflows.
     */
    @ParameterizedTest(name = "{0} is {1}")
    @CsvSource({
            "0.0.0.0, public", "9.255.255.255, public", "10.0.0.0, private", "10.255.255.255, private",
            "11.0.0.0, public", "100.63.255.255, public", "100.64.0.0, private", "100.127.255.255, private",
            "100.128.0.0, public", "126.255.255.255, public", "127.0.0.1, private", "127.255.255.255, private",
            "128.0.0.0, public", "169.253.255.255, public", "169.254.0.1, private", "169.254.255.255, private",
            "169.255.0.0, public", "172.15.255.255, public", "172.16.0.0, private", "172.31.255.255, private",
            "172.32.0.0, public", "192.167.255.255, public", "192.168.0.0, private", "192.168.255.255, private",
            "192.169.0.0, public", "192.0.2.1, public", "198.51.100.1, public", "203.0.113.1, public",
            "1.1.1.1, public", "8.8.8.8, public", "255.255.255.255, private", "255.255.255.254, public", "::, public",
            "223.255.255.255, public", "224.0.0.0, private", "224.0.0.251, private", "239.255.255.255, private", "240.0.0.0, public",
            "ff00::, private", "ff02::2, private", "ff02::16, private", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, private",
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, public", "::ffff:224.0.0.251, private",
            "::1, private", "::2, public", "::ffff:10.0.0.1, private", "::ffff:8.8.8.8, public",
            "fbff:ffff::1, public", "fc00::, private", "fd00::1, private", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, private",
            "fe00::1, public", "fe7f::1, public", "fe80::1, private", "febf:ffff::1, private",
            "fec0::1, public", "ff02::1, private", "2001:db8::1, public", "2606:4700::1111, public"})
    void overflowClassifiesDestinationsLikeIpClass(String dst, String ipType) {
        boolean v6 = dst.contains(":");
        byte[] filler = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        byte[] filler6 = ethernet().ipv6("fd00::1", "fd00::2").udp(1, 2).build();
        byte[] probe = v6
                ? ethernet().ipv6("2001:db8::99", dst).udp(1, 2).payload(3).build()
                : ethernet().ipv4("192.0.2.99", dst).udp(1, 2).payload(3).build();
        assertEquals(ipType, IpClass.of(IpAddress.parse(dst)), "IpClass (userspace) disagrees with the contract");
        KernelStat expected = ipType.equals(IpClass.PRIVATE) ? KernelStat.OVERFLOW_PRIVATE : KernelStat.OVERFLOW_PUBLIC;
        try (ProgTestRun t = ProgTestRun.load(1)) {
            t.run(INBOUND, filler);
            t.run(INBOUND, filler6);
            t.run(INBOUND, probe);
            t.assertMaps(Map.of(flow(INBOUND, "10.0.0.1", "10.0.0.2"), v(1, filler.length),
                            flow(INBOUND, "fd00::1", "fd00::2"), v(1, filler6.length)),
                    Map.of(stat(INBOUND, expected), v(1, probe.length)));
        }
    }

    /**
     * The program has a short path for untagged, option-less, non-GSO IPv4 and IPv6 frames and a
     * general one for the rest. Both must file a pair under the same key and count the same way: the
     * same pair sent in every shape ends up as one entry with the exact sums.
     */
    @Test
    void shortAndGeneralPathsCountThePairTheSameWay() {
        byte[] plain = ethernet().ipv4("192.0.2.7", "10.0.0.9").udp(1, 2).payload(10).build();       // short path
        byte[] options = ethernet().ipv4("192.0.2.7", "10.0.0.9").ipv4Options(8).udp(1, 2).payload(11).build();
        byte[] tagged = ethernet().vlan(42).ipv4("192.0.2.7", "10.0.0.9").udp(1, 2).payload(12).build();
        byte[] gso = ethernet().ipv4("192.0.2.7", "10.0.0.9").udp(1, 2).payload(500 + 13).build();
        byte[] plain6 = ethernet().ipv6("2001:db8::7", "fd00::9").udp(1, 2).payload(10).build();     // short path
        byte[] ext6 = ethernet().ipv6("2001:db8::7", "fd00::9").hopByHop(8).udp(1, 2).payload(11).build();
        byte[] tagged6 = ethernet().vlan(0x88a8, 7).vlan(42).ipv6("2001:db8::7", "fd00::9").udp(1, 2).payload(12).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            for (byte[] f : List.of(plain, options, tagged, plain6, ext6, tagged6)) {
                t.run(INBOUND, f);
            }
            t.run(INBOUND, gso, Skb.gso(2, 500));
            t.run(INBOUND, plain, Skb.gso(1, 500)); // GSO with one segment: the general path, one packet
            long v4Bytes = plain.length * 2L + options.length + tagged.length + gso.length + (14 + 20 + 8);
            t.assertMaps(Map.of(
                    flow(INBOUND, "192.0.2.7", "10.0.0.9"), v(6, v4Bytes),
                    flow(INBOUND, "2001:db8::7", "fd00::9"), v(3, (long) plain6.length + ext6.length + tagged6.length)),
                    NO_STATS);
        }
    }

    /**
     * An IPv6 header between two IPv4-mapped addresses is the pair userspace shows as a.b.c.d -> e.f.g.h:
     * it is counted under the IPv4 key, with the IPv4 packets of that pair. One mapped address alone
     * is an ordinary IPv6 pair.
     */
    @Test
    void ipv6BetweenTwoMappedAddressesCountsAsTheIpv4Pair() {
        byte[] v4 = ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(10).build();
        byte[] mapped = ethernet().ipv6("::ffff:10.0.0.1", "::ffff:1.1.1.1").udp(1, 2).payload(20).build();
        byte[] mappedTagged = ethernet().vlan(5).ipv6("::ffff:10.0.0.1", "::ffff:1.1.1.1").udp(1, 2).payload(30).build();
        byte[] half = ethernet().ipv6("::ffff:10.0.0.1", "2001:db8::1").udp(1, 2).payload(40).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, v4);
            t.run(OUTBOUND, mapped);
            t.run(OUTBOUND, mappedTagged);
            t.run(OUTBOUND, half);
            FlowKey pair = flow(OUTBOUND, "10.0.0.1", "1.1.1.1");
            assertTrue(pair.ipv4());
            FlowKey halfKey = flow(OUTBOUND, "::ffff:10.0.0.1", "2001:db8::1");
            assertFalse(halfKey.ipv4());
            // The raw per-CPU lookups go to the map each key lives in (before a read moves the entries out).
            assertEquals(3, java.util.Arrays.stream(t.perCpu(pair)).mapToLong(c -> c[0]).sum());
            assertEquals(1, java.util.Arrays.stream(t.perCpu(halfKey)).mapToLong(c -> c[0]).sum());
            t.assertMaps(Map.of(pair, v(3, (long) v4.length + mapped.length + mappedTagged.length),
                    halfKey, v(1, half.length)), NO_STATS);
        }
    }

    // ---- readers ------------------------------------------------------------------------------------

    /** One capacity is reported for both flows maps, so a reader refuses maps of different sizes. */
    @Test
    void readerRefusesFlowsMapsOfDifferentSizes() {
        try (BpfObject obj = BpfObject.openEmbedded(ProgTestRun.lib())) {
            obj.setMaxEntries(BpfObject.MAP_FLOWS4, 64);
            obj.setMaxEntries(BpfObject.MAP_FLOWS6, 128);
            obj.load();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BpfFlowReader.of(obj));
            assertEquals("the flows4 and flows6 maps must have the same size (--map-size sizes both)", e.getMessage());
        }
        try (ProgTestRun t = ProgTestRun.load(64)) {
            assertEquals(64, t.reader().flowCapacity());
        }
    }


    /** More entries than one batch (BpfFlowReader.BATCH = 1024): the batch and get-next-key paths agree exactly. */
    @Test
    void getNextKeyFallbackReadsExactlyWhatTheBatchPathReads() {
        int n = 1500;
        assertTrue(n > BpfFlowReader.BATCH);
        Map<FlowKey, FlowValue> expected = new HashMap<>();
        // Two objects with the same traffic: a read moves the entries out of the kernel map (BpfFlowReader),
        // so each path reads its own.
        try (ProgTestRun t = ProgTestRun.load(); ProgTestRun u = ProgTestRun.load()) {
            for (int i = 0; i < n; i++) {
                String src = "10.1." + (i >> 8) + "." + (i & 0xff);
                boolean v6 = i % 5 == 0;
                Direction dir = i % 2 == 0 ? INBOUND : OUTBOUND;
                byte[] f = v6
                        ? ethernet().ipv6("fd00::" + Integer.toHexString(i + 1), "2606:4700::1111").udp(1, 2).payload(i % 97).build()
                        : ethernet().ipv4(src, i % 3 == 0 ? "1.1.1.1" : "8.8.8.8").tcp(1, 2).payload(i % 101).build();
                int times = 1 + i % 3;
                for (int k = 0; k < times; k++) {
                    t.run(dir, f);
                    u.run(dir, f);
                }
                IpAddress[] a = addresses(f);
                FlowValue prev = expected.put(FlowKey.of(lo(), dir, a[0], a[1]), v(times, (long) times * f.length));
                assertEquals(null, prev, "the test generated a key twice");
            }
            assertEquals(n, expected.size());

            Map<FlowKey, FlowValue> batch = ProgTestRun.flows(t.reader());
            assertTrue(!t.reader().usesFallback(), "this kernel has batch lookups; the default path must use them");
            BpfFlowReader oneByOne = u.reader();
            oneByOne.forceOneByOne();
            Map<FlowKey, FlowValue> fallback = ProgTestRun.flows(oneByOne);
            assertTrue(oneByOne.usesFallback());
            assertEquals(expected, batch, "batch read");
            assertEquals(expected, fallback, "get-next-key read");
            t.assertMaps(expected, NO_STATS);
            u.assertMaps(expected, NO_STATS); // read again, now from what the first read moved out
        }
    }

    @Test
    void getNextKeyFallbackReadsStatsLikeTheBatchPath() {
        try (ProgTestRun t = ProgTestRun.load()) {
            byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
            byte[] bad = ethernet().ipv6("fd00::1", "fd00::2").ipVersion(5).build();
            t.run(INBOUND, arp);
            t.run(OUTBOUND, bad);
            Map<StatKey, FlowValue> expected = Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(1, arp.length),
                    stat(OUTBOUND, KernelStat.MALFORMED), v(1, bad.length));
            try (BpfFlowReader oneByOne = BpfFlowReader.of(t.object())) {
                oneByOne.forceOneByOne();
                Map<StatKey, FlowValue> got = new LinkedHashMap<>();
                oneByOne.readStats((k, p, b) -> assertEquals(null, got.put(k, v(p, b))));
                assertEquals(expected, got);
            }
            t.assertMaps(NO_FLOWS, expected);
        }
    }

    // ---- test-run options the kernel refuses for SCHED_CLS ---------------------------------------------

    /**
     * BPF_F_TEST_RUN_ON_CPU is for raw tracepoint programs only: bpf_prog_test_run_skb returns EINVAL
     * for any flags, cpu or batch_size. Per-CPU summing is tested by CPU affinity instead (PerCpuTestRunTest).
     */
    @Test
    void cpuOptionIsRefusedForTcPrograms() {
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            assertEquals(-Errno.EINVAL, t.tryRun(INBOUND, f, null, 0, ProgTestRun.BPF_F_TEST_RUN_ON_CPU, 1).err());
            assertEquals(-Errno.EINVAL, t.tryRun(INBOUND, f, null, 0, ProgTestRun.BPF_F_TEST_RUN_ON_CPU, 0).err());
            assertEquals(-Errno.EINVAL, t.tryRun(INBOUND, f, null, 0, 0, 1).err());
            t.assertMaps(NO_FLOWS, NO_STATS);
        }
    }
}
