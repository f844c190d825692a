package dev.ebpftraffic.bpf;

import dev.ebpftraffic.bpf.ProgTestRun.Skb;
import dev.ebpftraffic.flow.Cidr;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.GroupLabeler;
import dev.ebpftraffic.flow.GroupLabeler.Group;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.IpClass;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What a packet's bytes are, by BPF_PROG_TEST_RUN with exact map contents: the L2 header plus the IP
 * datagram's own length (Ethernet padding and a kept FCS excluded), the headers the extra segments
 * of a tunnel GSO skb repeat (inner headers included), and the overflow path's ip_type from the
 * --config.file groups ("ip_groups" LPM trie).
 */
@KernelTest
class WireBytesTestRunTest {
    private static final Map<StatKey, FlowValue> NO_STATS = Map.of();

    static int lo() {
        return ProgTestRun.loopbackIfindex();
    }

    static FlowValue v(long packets, long bytes) {
        return new FlowValue(packets, bytes);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** The first (outer) pair of an Ethernet frame, as TrafficProgTestRunTest reads it. */
    static FlowKey key(Direction dir, byte[] f) {
        IpAddress[] a = TrafficProgTestRunTest.addresses(f);
        return FlowKey.of(lo(), dir, a[0], a[1]);
    }

    // ---- padding and FCS ------------------------------------------------------------------------

    /**
     * name, the frame as sent (its IP length is the truth), and how many bytes of Ethernet padding and
     * FCS follow it at the hook. The short path (untagged, option-less IPv4, IPv6) and the general one
     * (VLAN tags, IPv4 options) must agree.
     */
    static Stream<Arguments> padded() {
        return Stream.of(
                Arguments.of("IPv4 UDP, 4 bytes: padded to 60", ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(4).build(), 14),
                Arguments.of("IPv4 UDP, 4 bytes: padded to 60, + FCS", ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1, 2).payload(4).build(), 18),
                Arguments.of("IPv4 ICMP echo: padded to 60", ethernet().ipv4("10.0.0.1", "10.0.0.2").echoRequest().build(), 18),
                Arguments.of("IPv4 TCP ACK, 802.1Q: padded to 60", ethernet().vlan(7).ipv4("10.0.0.1", "1.1.1.1").tcp(1, 443).build(), 2),
                Arguments.of("IPv4 with options, UDP: padded to 60", ethernet().ipv4("10.0.0.1", "1.1.1.1").ipv4Options(4).udp(1, 2).build(), 14),
                Arguments.of("IPv6 UDP + FCS", ethernet().ipv6("fd00::1", "2606:4700::1111").udp(1, 2).build(), 4),
                Arguments.of("IPv6 behind QinQ, UDP + FCS", ethernet().vlan(Frames.ETH_P_8021AD, 1).vlan(2).ipv6("fd00::1", "fd00::2").udp(1, 2).build(), 4),
                Arguments.of("IPv6 between two IPv4-mapped addresses + FCS", ethernet().ipv6("::ffff:10.0.0.1", "::ffff:10.0.0.2").udp(1, 2).build(), 4));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("padded")
    void paddingAndFcsAreNotCounted(String name, byte[] sent, int trailer) {
        byte[] atHook = Arrays.copyOf(sent, sent.length + trailer); // zero padding / FCS bytes
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, atHook);
            t.run(OUTBOUND, atHook);
            t.run(OUTBOUND, sent);
            FlowKey in = key(INBOUND, sent);
            FlowKey out = key(OUTBOUND, sent);
            t.assertMaps(Map.of(in, v(1, sent.length), out, v(2, 2L * sent.length)), NO_STATS);
        }
    }

    /** A frame exactly 60 bytes long: the minimum Ethernet frame without FCS, padded from 46. */
    @Test
    void paddedSixtyByteFrame() {
        byte[] sent = ethernet().ipv4("192.168.5.1", "192.168.5.2").udp(9, 9).payload(4).build();
        assertEquals(46, sent.length);
        byte[] padded = Arrays.copyOf(sent, 60);
        Arrays.fill(padded, 46, 60, (byte) 0xa5); // padding content is arbitrary
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, padded, null, 10); // the kernel runs it 10 times
            t.assertMaps(Map.of(key(INBOUND, sent), v(10, 460)), NO_STATS);
        }
    }

    /** An IP length the frame cannot hold, or shorter than the IP header: the frame's own length counts. */
    @ParameterizedTest(name = "IPv4 tot_len {0}")
    @CsvSource({"0", "19", "200"})
    void unusableIpv4LengthCountsTheFrame(int totLen) {
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload(30).build();
        f[16] = (byte) (totLen >> 8);
        f[17] = (byte) totLen;
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, f);
            t.assertMaps(Map.of(key(OUTBOUND, f), v(1, f.length)), NO_STATS);
        }
    }

    @Test
    void unusableIpv6LengthCountsTheFrame() {
        byte[] zero = ethernet().ipv6("fd00::1", "fd00::2").udp(1, 2).payload(30).build();
        zero[18] = 0;
        zero[19] = 0;
        byte[] tooLong = ethernet().ipv6("fd00::1", "fd00::2").udp(1, 2).payload(30).build();
        tooLong[18] = 1;
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, zero);
            t.run(OUTBOUND, tooLong);
            t.assertMaps(Map.of(key(OUTBOUND, zero), v(2, zero.length + tooLong.length)), NO_STATS);
        }
    }

    /**
     * The L3 programs (tun, WireGuard, ...) count the IP length as well: a trailer is not the packet's.
     * The source 8.0.0.1 makes the test run's skb->protocol IPv4 (see PacketShapesTestRunTest).
     */
    @Test
    void l3DeviceCountsTheIpLength() {
        byte[] ip = ethernet().ipv4(PacketShapesTestRunTest.V4_SRC, "10.0.0.2").udp(1, 2).payload(4).buildL3();
        byte[] withTrailer = Arrays.copyOf(ip, ip.length + 10);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, withTrailer, null);
            t.assertMaps(Map.of(FlowKey.of(lo(), INBOUND, IpAddress.parse(PacketShapesTestRunTest.V4_SRC), IpAddress.parse("10.0.0.2")),
                    v(1, ip.length)), NO_STATS);
        }
    }

    // ---- GSO through tunnels -----------------------------------------------------------------------

    static final byte[] VXLAN = {0x08, 0, 0, 0, 0, 0, 42, 0};               // I flag, VNI 42

    /** A Geneve header: optWords 4-byte option words, protocol type. */
    static byte[] geneve(int optWords, int protocol) {
        byte[] h = new byte[8 + optWords * 4];
        h[0] = (byte) optWords;
        h[2] = (byte) (protocol >> 8);
        h[3] = (byte) protocol;
        h[6] = 7; // VNI
        return h;
    }

    /** A GRE header with the C/K/S flags as asked (each adds 4 bytes) and the protocol type. */
    static byte[] gre(boolean csum, boolean key, boolean seq, int protocol) {
        int len = 4 + (csum ? 4 : 0) + (key ? 4 : 0) + (seq ? 4 : 0);
        byte[] h = new byte[len];
        h[0] = (byte) ((csum ? 0x80 : 0) | (key ? 0x20 : 0) | (seq ? 0x10 : 0));
        h[2] = (byte) (protocol >> 8);
        h[3] = (byte) protocol;
        return h;
    }

    static Frames.Builder innerTcp4(int options) {
        return ethernet().ipv4("10.244.1.2", "10.244.2.3").tcp(40000, 5201, options);
    }

    static Frames.Builder innerTcp6() {
        return ethernet().ipv6("fd00:244:1::2", "fd00:244:2::3").tcp(40000, 5201);
    }

    static final int SEGS = 4;
    static final int MSS = 900; // a test run takes at most a page of data

    /** The inner frame (Ethernet included) with SEGS segments' worth of payload, the last one short. */
    static byte[] inner(Frames.Builder b) {
        return b.payload(MSS * (SEGS - 1) + 100).build();
    }

    static byte[] l3(byte[] frame) {
        return Arrays.copyOfRange(frame, 14, frame.length);
    }

    /**
     * name, the outer frame, and the header length every extra segment repeats: outer L2 + L3 (+ UDP +
     * tunnel header) + inner L2 (for Ethernet over the tunnel) + inner L3 + inner L4, as the kernel's
     * qdisc_pkt_len_init counts from the inner transport header.
     */
    static Stream<Arguments> tunnels() {
        return Stream.of(
                Arguments.of("VXLAN (4789) over IPv4, inner IPv4 TCP",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4789).payload(concat(VXLAN, inner(innerTcp4(0)))).build(),
                        14 + 20 + 8 + 8 + 14 + 20 + 20),
                Arguments.of("VXLAN (4789) over IPv4, inner IPv4 TCP with 12 option bytes",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4789).payload(concat(VXLAN, inner(innerTcp4(12)))).build(),
                        14 + 20 + 8 + 8 + 14 + 20 + 32),
                Arguments.of("VXLAN (8472, Linux default) over IPv4, inner IPv6 TCP",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 8472).payload(concat(VXLAN, inner(innerTcp6()))).build(),
                        14 + 20 + 8 + 8 + 14 + 40 + 20),
                Arguments.of("VXLAN over IPv6, 802.1Q outside, inner IPv4 TCP",
                        ethernet().vlan(5).ipv6("fd00:7::1", "fd00:7::2").udp(50000, 4789).payload(concat(VXLAN, inner(innerTcp4(0)))).build(),
                        18 + 40 + 8 + 8 + 14 + 20 + 20),
                Arguments.of("VXLAN over IPv4, inner IPv4 UDP (UDP GSO inside the tunnel)",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4789)
                                .payload(concat(VXLAN, ethernet().ipv4("10.244.1.2", "10.244.2.3").udp(5000, 5001).payload(MSS * (SEGS - 1) + 100).build())).build(),
                        14 + 20 + 8 + 8 + 14 + 20 + 8),
                Arguments.of("Geneve, no options, Ethernet inside, over IPv4",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 6081).payload(concat(geneve(0, 0x6558), inner(innerTcp4(0)))).build(),
                        14 + 20 + 8 + 8 + 14 + 20 + 20),
                Arguments.of("Geneve, 8 option bytes, Ethernet inside, over IPv6",
                        ethernet().ipv6("fd00:7::1", "fd00:7::2").udp(50000, 6081).payload(concat(geneve(2, 0x6558), inner(innerTcp6()))).build(),
                        14 + 40 + 8 + 16 + 14 + 40 + 20),
                Arguments.of("Geneve, IPv4 inside (no inner Ethernet)",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 6081).payload(concat(geneve(1, 0x0800), l3(inner(innerTcp4(0))))).build(),
                        14 + 20 + 8 + 12 + 20 + 20),
                Arguments.of("GRE over IPv4, IPv4 inside",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(47).payload(concat(gre(false, false, false, 0x0800), l3(inner(innerTcp4(0))))).build(),
                        14 + 20 + 4 + 20 + 20),
                Arguments.of("GRE with key and sequence over IPv4, IPv6 inside",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(47).payload(concat(gre(false, true, true, 0x86DD), l3(inner(innerTcp6())))).build(),
                        14 + 20 + 12 + 40 + 20),
                Arguments.of("gretap with checksum and key over IPv4, Ethernet inside",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(47).payload(concat(gre(true, true, false, 0x6558), inner(innerTcp4(0)))).build(),
                        14 + 20 + 12 + 14 + 20 + 20),
                Arguments.of("ip6gre over IPv6, IPv4 inside",
                        ethernet().ipv6("fd00:7::1", "fd00:7::2").protocol(47).payload(concat(gre(false, false, false, 0x0800), l3(inner(innerTcp4(0))))).build(),
                        14 + 40 + 4 + 20 + 20),
                Arguments.of("IPIP",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(4).payload(l3(inner(innerTcp4(0)))).build(),
                        14 + 20 + 20 + 20),
                Arguments.of("IPIP, inner TCP with 40 option bytes",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(4).payload(l3(inner(innerTcp4(40)))).build(),
                        14 + 20 + 20 + 60),
                Arguments.of("SIT (IPv6 in IPv4)",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").protocol(41).payload(l3(inner(innerTcp6()))).build(),
                        14 + 20 + 40 + 20),
                Arguments.of("IPv6 in IPv6",
                        ethernet().ipv6("fd00:7::1", "fd00:7::2").protocol(41).payload(l3(inner(innerTcp6()))).build(),
                        14 + 40 + 40 + 20),
                Arguments.of("IPv4 in IPv6",
                        ethernet().ipv6("fd00:7::1", "fd00:7::2").protocol(4).payload(l3(inner(innerTcp4(0)))).build(),
                        14 + 40 + 20 + 20),
                Arguments.of("plain UDP GSO (UDP_SEGMENT) to another port",
                        ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4790).payload(MSS * (SEGS - 1) + 100).build(),
                        14 + 20 + 8),
                Arguments.of("plain UDP GSO over IPv6",
                        ethernet().ipv6("fd00:7::1", "fd00:7::2").udp(50000, 443).payload(MSS * (SEGS - 1) + 100).build(),
                        14 + 40 + 8));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tunnels")
    void tunnelGsoCountsTheInnerHeadersOfEverySegment(String name, byte[] f, int headerLen) {
        long gsoBytes = f.length + (long) (SEGS - 1) * headerLen;
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, f, Skb.gso(SEGS, MSS));
            t.run(INBOUND, f, Skb.gso(SEGS, MSS));
            t.run(INBOUND, f, Skb.gso(0, MSS)); // untrusted GSO: the segment count from gso_size and the same headers
            t.run(INBOUND, f); // not GSO: one packet, its length
            t.assertMaps(Map.of(
                    key(OUTBOUND, f), v(SEGS, gsoBytes),
                    key(INBOUND, f), v(2L * SEGS + 1, 2 * gsoBytes + f.length)), NO_STATS);
        }
    }

    /**
     * What the segments of a tunnel GSO skb carry on the wire, built segment by segment: the same
     * transfer sent as SEGS separate encapsulated frames must count as much as the GSO skb.
     */
    @Test
    void vxlanGsoSkbCountsWhatItsSegmentsCount() {
        byte[] gso = ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4789).payload(concat(VXLAN, inner(innerTcp4(12)))).build();
        try (ProgTestRun segments = ProgTestRun.load(); ProgTestRun whole = ProgTestRun.load()) {
            for (int i = 0; i < SEGS; i++) {
                int payload = i < SEGS - 1 ? MSS : 100;
                byte[] seg = ethernet().ipv4("192.168.7.1", "192.168.7.2").udp(50000, 4789)
                        .payload(concat(VXLAN, innerTcp4(12).payload(payload).build())).build();
                segments.run(OUTBOUND, seg);
            }
            whole.run(OUTBOUND, gso, Skb.gso(SEGS, MSS));
            assertEquals(segments.flows(), whole.flows());
        }
    }

    // ---- PPPoE and MPLS ---------------------------------------------------------------------------

    /** A PPPoE session header (version/type 0x11, code 0, session 0x1234, length) and the PPP protocol. */
    static byte[] pppoe(int pppProtocol, int payloadLength) {
        int len = payloadLength + 2;
        return new byte[] {0x11, 0, 0x12, 0x34, (byte) (len >> 8), (byte) len, (byte) (pppProtocol >> 8), (byte) pppProtocol};
    }

    /** An MPLS label stack entry: label, bottom-of-stack flag, TTL 64. */
    static byte[] label(int label, boolean bottom) {
        return new byte[] {(byte) (label >> 12), (byte) (label >> 4), (byte) ((label & 0xf) << 4 | (bottom ? 1 : 0)), 64};
    }

    static final byte[] IP4 = ethernet().ipv4("10.60.0.1", "1.1.1.1").udp(1, 2).payload(30).buildL3();
    static final byte[] IP6 = ethernet().ipv6("fd00:60::1", "2606:4700::1111").tcp(1, 2).payload(30).buildL3();

    static Stream<Arguments> encapsulatedIp() {
        return Stream.of(
                Arguments.of("PPPoE, IPv4", ethernet().etherType(0x8864, concat(pppoe(0x0021, IP4.length), IP4)).build(), "10.60.0.1", "1.1.1.1", 0),
                Arguments.of("PPPoE, IPv6", ethernet().etherType(0x8864, concat(pppoe(0x0057, IP6.length), IP6)).build(), "fd00:60::1", "2606:4700::1111", 0),
                Arguments.of("802.1Q, PPPoE, IPv4, padded", ethernet().vlan(7).etherType(0x8864, concat(pppoe(0x0021, IP4.length), IP4)).build(), "10.60.0.1", "1.1.1.1", 6),
                Arguments.of("MPLS, one label, IPv4", ethernet().etherType(0x8847, concat(label(16, true), IP4)).build(), "10.60.0.1", "1.1.1.1", 0),
                Arguments.of("MPLS, two labels, IPv6", ethernet().etherType(0x8847, concat(label(100, false), label(200, true), IP6)).build(), "fd00:60::1", "2606:4700::1111", 0),
                Arguments.of("MPLS multicast, four labels, IPv4 + FCS", ethernet().etherType(0x8848,
                        concat(label(1, false), label(2, false), label(3, false), label(4, true), IP4)).build(), "10.60.0.1", "1.1.1.1", 4));
    }

    /** IP inside PPPoE (session stage) or under an MPLS label stack counts for its pair; bytes from the frame's start, padding excluded. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("encapsulatedIp")
    void ipInsidePppoeAndMplsIsAFlow(String name, byte[] sent, String src, String dst, int trailer) {
        byte[] atHook = Arrays.copyOf(sent, sent.length + trailer);
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, atHook);
            t.run(OUTBOUND, atHook);
            t.run(OUTBOUND, atHook, null, 3);
            t.assertMaps(Map.of(
                    FlowKey.of(lo(), INBOUND, IpAddress.parse(src), IpAddress.parse(dst)), v(1, sent.length),
                    FlowKey.of(lo(), OUTBOUND, IpAddress.parse(src), IpAddress.parse(dst)), v(4, 4L * sent.length)), NO_STATS);
        }
    }

    static Stream<Arguments> encapsulatedNonIp() {
        return Stream.of(
                Arguments.of("PPPoE LCP", ethernet().etherType(0x8864, concat(pppoe(0xc021, 10), new byte[10])).build(), KernelStat.NON_IP),
                Arguments.of("PPPoE IPCP", ethernet().etherType(0x8864, concat(pppoe(0x8021, 10), new byte[10])).build(), KernelStat.NON_IP),
                Arguments.of("PPPoE discovery (PADI)", ethernet().etherType(0x8863, new byte[] {0x11, 0x09, 0, 0, 0, 4, 1, 1, 0, 0}).build(), KernelStat.NON_IP),
                Arguments.of("MPLS, five labels (deeper than parsed)", ethernet().etherType(0x8847, concat(label(1, false), label(2, false),
                        label(3, false), label(4, false), label(5, true), IP4)).build(), KernelStat.NON_IP),
                Arguments.of("MPLS, Ethernet pseudowire (control word)", ethernet().etherType(0x8847, concat(label(9, true), new byte[4],
                        ethernet().ipv4("10.60.0.1", "1.1.1.1").udp(1, 2).build())).build(), KernelStat.NON_IP),
                Arguments.of("PPPoE, IPv4 cut inside the IP header", ethernet().etherType(0x8864, concat(pppoe(0x0021, IP4.length),
                        Arrays.copyOf(IP4, 12))).build(), KernelStat.MALFORMED),
                Arguments.of("MPLS, IPv6 cut inside the IP header", ethernet().etherType(0x8847, concat(label(5, true),
                        Arrays.copyOf(IP6, 30))).build(), KernelStat.MALFORMED));
    }

    /** What PPPoE or MPLS carries besides IP stays non-IP; a cut IP header inside them is malformed. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("encapsulatedNonIp")
    void nonIpInsidePppoeAndMplsIsSkipped(String name, byte[] f, KernelStat stat) {
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, f);
            t.run(INBOUND, f);
            t.assertMaps(Map.of(), Map.of(new StatKey(lo(), INBOUND, stat), v(2, 2L * f.length)));
        }
    }

    // ---- overflow ip_type from --config.file groups ----------------------------------------------

    static Group group(String name, boolean isPrivate, String... cidrs) {
        return new Group(name, Stream.of(cidrs).map(Cidr::parse).toList(), GroupLabeler.Aggregate.GROUP, 32, 128, isPrivate);
    }

    static final List<Group> GROUPS = List.of(
            group("ours", true, "198.51.100.0/24", "2001:db8:1::/48", "203.0.113.7/32"),
            group("theirs", false, "198.51.100.128/25", "10.0.0.0/8"),
            group("dup-public", false, "203.0.113.7/32"), // the same CIDR again: the first group in the file wins
            group("internet", false, "0.0.0.0/0", "::/0"));

    /** The kernel must class an overflowed packet's dst_ip exactly as GroupLabeler labels it. */
    @ParameterizedTest(name = "{0} is {1}")
    @CsvSource({
            "198.51.100.1, private", "198.51.100.127, private", "198.51.100.128, public", "198.51.100.255, public",
            "198.51.101.1, public", "203.0.113.7, private", "203.0.113.8, public", "10.1.2.3, private",
            "8.8.8.8, public", "224.0.0.251, private",
            "2001:db8:1::1, private", "2001:db8:1:ffff::1, private", "2001:db8:2::1, public", "fd00::9, private",
            "ff02::1, private", "::ffff:198.51.100.9, private"})
    void overflowClassesDestinationsByTheConfigGroups(String dst, String ipType) {
        GroupLabeler labeler = new GroupLabeler(GROUPS);
        assertEquals(ipType, labeler.ipType(IpAddress.parse(dst)), "GroupLabeler (userspace) disagrees with the contract");
        boolean v6 = dst.contains(":");
        byte[] filler = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
        byte[] filler6 = ethernet().ipv6("fd00::1", "fd00::2").udp(1, 2).build();
        byte[] probe = v6
                ? ethernet().ipv6("2001:db8::99", dst).udp(1, 2).payload(3).build()
                : ethernet().ipv4("192.0.2.99", dst).udp(1, 2).payload(3).build();
        KernelStat expected = ipType.equals(IpClass.PRIVATE) ? KernelStat.OVERFLOW_PRIVATE : KernelStat.OVERFLOW_PUBLIC;
        try (ProgTestRun t = ProgTestRun.load(1, GROUPS)) {
            t.run(OUTBOUND, filler);
            t.run(OUTBOUND, filler6);
            t.run(OUTBOUND, probe);
            t.assertMaps(Map.of(key(OUTBOUND, filler), v(1, filler.length), key(OUTBOUND, filler6), v(1, filler6.length)),
                    Map.of(new StatKey(lo(), OUTBOUND, expected), v(1, probe.length)));
        }
    }
}
