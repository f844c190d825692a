package dev.ebpftraffic.bpf;

import dev.ebpftraffic.bpf.ProgTestRun.Skb;
import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.testing.Frames;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Map;
import java.util.stream.Stream;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ETH_P_8021AD;
import static dev.ebpftraffic.testing.Frames.IPPROTO_TCP;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Packet shapes of real hosts, through BPF_PROG_TEST_RUN with exact map contents: the L3 programs
 * (devices without an Ethernet header), IPv4 and IPv6 fragments, and IPv6 extension headers and
 * VLAN tags together with the L3/L2 split.
 *
 * <p><b>What a SCHED_CLS test run can do with an L3 program.</b> bpf_prog_test_run_skb always treats
 * the data as an Ethernet frame: at least 14 bytes, and skb->protocol = eth_type_trans() of bytes
 * 12-13; the program still sees the data from offset 0. An L3 program reads the IP header at 0 and
 * trusts skb->protocol. So an IP packet runs through it as on a tun device exactly when its bytes
 * 12-13 happen to be the right ethertype: the first two bytes of the IPv4 source address (an
 * address 8.0.x.x gives 0x0800), or bytes 4-5 of the IPv6 source address (2001:db8:86dd::x gives
 * 0x86dd), and the packet is long enough that the header skb->protocol names fits after those
 * 14 bytes (else EINVAL). The tests pick such sources; with any other source the program must (and does) see a
 * non-IP protocol, which proves it dispatches on skb->protocol and not on the version nibble.
 * Real tun devices are tested end to end in {@code dev.ebpftraffic.e2e.InterfacesTest}.
 */
@KernelTest
class PacketShapesTestRunTest {
    static final String V4_SRC = "8.0.0.1";              // bytes 12-13 of the IPv4 header: 08 00
    static final String V6_SRC = "2001:db8:86dd::1";     // bytes 12-13 of the IPv6 header: 86 dd

    static int lo() {
        return ProgTestRun.loopbackIfindex();
    }

    static FlowKey flow(Direction dir, String src, String dst) {
        return FlowKey.of(lo(), dir, IpAddress.parse(src), IpAddress.parse(dst));
    }

    static StatKey stat(Direction dir, KernelStat s) {
        return new StatKey(lo(), dir, s);
    }

    static FlowValue v(long packets, long bytes) {
        return new FlowValue(packets, bytes);
    }

    // ---- L3 programs ------------------------------------------------------------------------

    @Test
    void l3ProgramsCountIpPacketsWithoutAnEthernetHeader() {
        byte[] v4 = ethernet().ipv4(V4_SRC, "10.0.0.2").udp(53, 40000).payload(100).buildL3();
        byte[] v6 = ethernet().ipv6(V6_SRC, "fd00::2").tcp(443, 40000).payload(33).buildL3();
        assertEquals(20 + 8 + 100, v4.length);
        assertEquals(40 + 20 + 33, v6.length);
        assertEquals(0x0800, ((v4[12] & 0xff) << 8) | (v4[13] & 0xff));
        assertEquals(0x86dd, ((v6[12] & 0xff) << 8) | (v6[13] & 0xff));
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, v4, null);
            t.runL3(INBOUND, v4, null);
            t.runL3(OUTBOUND, v6, null);
            // Bytes are the IP packet's length: there is no L2 header on such a device.
            t.assertMaps(Map.of(
                    flow(INBOUND, V4_SRC, "10.0.0.2"), v(2, 2L * v4.length),
                    flow(OUTBOUND, V6_SRC, "fd00::2"), v(1, v6.length)), Map.of());
        }
    }

    @Test
    void l3ProgramsDispatchOnSkbProtocolNotOnTheFirstByte() {
        // A well-formed IPv4 packet whose skb->protocol (from bytes 12-13 here: 0a 00) is not IP.
        byte[] notIp = ethernet().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).payload(10).buildL3();
        // skb->protocol says IPv4 (2001:db8:800:: puts 08 00 at bytes 12-13) but the packet is IPv6.
        byte[] v6AsV4 = ethernet().ipv6("2001:db8:800::1", "fd00::2").udp(1, 2).payload(10).buildL3();
        // skb->protocol says IPv6 (134.221.x.x puts 86 dd at bytes 12-13) but the packet is IPv4. The test
        // run refuses (EINVAL) data whose 40-byte "IPv6 header" would not fit after the 14 "Ethernet" bytes.
        byte[] v4AsV6 = ethernet().ipv4("134.221.0.1", "10.0.0.2").udp(1, 2).payload(40).buildL3();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, notIp, null);
            t.runL3(OUTBOUND, v6AsV4, null);
            t.runL3(OUTBOUND, v4AsV6, null);
            t.assertMaps(Map.of(), Map.of(
                    stat(INBOUND, KernelStat.NON_IP), v(1, notIp.length),
                    stat(OUTBOUND, KernelStat.MALFORMED), v(2, (long) v6AsV4.length + v4AsV6.length)));
        }
    }

    @Test
    void ethernetProgramOnTheSameBytesSeesSomethingElse() {
        // The reason for two program pairs: the Ethernet program reads bytes 12-13 as the ethertype
        // and the IP header 14 bytes in, so an L3 packet would be misread (here: as non-IP garbage
        // or with the wrong addresses).
        byte[] v4 = ethernet().ipv4(V4_SRC, "10.0.0.2").udp(53, 40000).payload(100).buildL3();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, v4);
            assertEquals(0, t.flows().keySet().stream()
                    .filter(k -> k.src().equals(IpAddress.parse(V4_SRC))).count(), "the Ethernet program found the real pair");
        }
    }

    @Test
    void l3GsoAddsHeadersWithoutAnL2Header() {
        int gsoSize = 500;
        byte[] tcp4 = ethernet().ipv4(V4_SRC, "10.0.0.2").tcp(1, 443, 12).payload(gsoSize * 3 + 7).buildL3();
        byte[] udp6 = ethernet().ipv6(V6_SRC, "fd00::2").hopByHop(8).udp(1, 443).payload(gsoSize + 1).buildL3();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, tcp4, Skb.gso(4, gsoSize));
            t.runL3(OUTBOUND, udp6, Skb.gso(0, gsoSize)); // untrusted GSO: segments worked out from gso_size
            t.assertMaps(Map.of(
                    flow(INBOUND, V4_SRC, "10.0.0.2"), v(4, tcp4.length + 3L * (20 + 32)),
                    flow(OUTBOUND, V6_SRC, "fd00::2"), v(2, udp6.length + (40 + 8 + 8))), Map.of());
        }
    }

    static Stream<Arguments> l3Ipv6Extensions() {
        return Stream.of(
                Arguments.of("hop-by-hop", ethernet().ipv6(V6_SRC, "fd00::2").hopByHop(8).udp(1, 2).payload(20)),
                Arguments.of("routing + fragment + AH", ethernet().ipv6(V6_SRC, "fd00::2").routing().fragment()
                        .authenticationHeader().tcp(1, 2).payload(20)),
                Arguments.of("all six", ethernet().ipv6(V6_SRC, "fd00::2").hopByHop(8).destinationOptions(8)
                        .routing().fragment().authenticationHeader().destinationOptions(24).tcp(1, 2, 12).payload(10)));
    }

    @ParameterizedTest(name = "L3 IPv6 with {0}")
    @MethodSource("l3Ipv6Extensions")
    void l3Ipv6WithExtensionHeaders(String name, Frames.Builder b) {
        byte[] p = b.buildL3();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, p, null);
            t.assertMaps(Map.of(flow(INBOUND, V6_SRC, "fd00::2"), v(1, p.length)), Map.of());
        }
    }

    // ---- fragments ----------------------------------------------------------------------------

    /** 12 payload bytes, then 0xF0 at offset 12: read as a TCP header, that is doff 15 (60 bytes). */
    static byte[] tcpLookingBytes(int len) {
        byte[] b = new byte[len];
        b[12] = (byte) 0xF0;
        return b;
    }

    @Test
    void everyIpv4FragmentCarriesTheAddresses() {
        byte[] first = ethernet().ipv4("192.0.2.1", "10.0.0.2").ipv4Fragment(0, true).udp(5000, 53).payload(1472).build();
        byte[] middle = ethernet().ipv4("192.0.2.1", "10.0.0.2").ipv4Fragment(1480, true).protocol(17).payload(1480).build();
        byte[] last = ethernet().ipv4("192.0.2.1", "10.0.0.2").ipv4Fragment(2960, false).protocol(17).payload(100).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, first);
            t.run(INBOUND, middle);
            t.run(INBOUND, last);
            t.assertMaps(Map.of(flow(INBOUND, "192.0.2.1", "10.0.0.2"),
                    v(3, (long) first.length + middle.length + last.length)), Map.of());
        }
    }

    @Test
    void everyIpv6FragmentCarriesTheAddresses() {
        byte[] first = ethernet().ipv6("2001:db8::1", "fd00::2").fragment(0, true).udp(5000, 53).payload(1000).build();
        byte[] last = ethernet().ipv6("2001:db8::1", "fd00::2").fragment(1008, false).protocol(17).payload(300).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, first);
            t.run(OUTBOUND, last);
            t.assertMaps(Map.of(flow(OUTBOUND, "2001:db8::1", "fd00::2"), v(2, (long) first.length + last.length)), Map.of());
        }
    }

    /**
     * The L4 header is only read from a first fragment. The one place the program reads it is the
     * GSO header length, so a GSO skb shows it: bytes the same payload adds as an L4 header.
     */
    @Test
    void nonFirstIpv4FragmentNeverReadsL4() {
        byte[] first = ethernet().ipv4("192.0.2.1", "10.0.0.2").ipv4Fragment(0, true).protocol(IPPROTO_TCP)
                .payload(tcpLookingBytes(200)).build();
        byte[] later = ethernet().ipv4("192.0.2.3", "10.0.0.2").ipv4Fragment(8, false).protocol(IPPROTO_TCP)
                .payload(tcpLookingBytes(200)).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, first, Skb.gso(2, 100));
            t.run(INBOUND, later, Skb.gso(2, 100));
            t.assertMaps(Map.of(
                    flow(INBOUND, "192.0.2.1", "10.0.0.2"), v(2, first.length + (14 + 20 + 60)),
                    flow(INBOUND, "192.0.2.3", "10.0.0.2"), v(2, later.length + (14 + 20))), Map.of());
        }
    }

    @Test
    void nonFirstIpv6FragmentNeverReadsL4() {
        byte[] first = ethernet().ipv6("2001:db8::1", "fd00::2").hopByHop(8).fragment(0, true).protocol(IPPROTO_TCP)
                .payload(tcpLookingBytes(200)).build();
        byte[] later = ethernet().ipv6("2001:db8::3", "fd00::2").hopByHop(8).fragment(16, false).protocol(IPPROTO_TCP)
                .payload(tcpLookingBytes(200)).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(OUTBOUND, first, Skb.gso(2, 100));
            t.run(OUTBOUND, later, Skb.gso(2, 100));
            t.assertMaps(Map.of(
                    flow(OUTBOUND, "2001:db8::1", "fd00::2"), v(2, first.length + (14 + 40 + 8 + 8 + 60)),
                    flow(OUTBOUND, "2001:db8::3", "fd00::2"), v(2, later.length + (14 + 40 + 8 + 8))), Map.of());
        }
    }

    @Test
    void l3NonFirstFragmentNeverReadsL4() {
        byte[] later = ethernet().ipv4(V4_SRC, "10.0.0.2").ipv4Fragment(1480, false).protocol(IPPROTO_TCP)
                .payload(tcpLookingBytes(200)).buildL3();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.runL3(INBOUND, later, Skb.gso(2, 100));
            t.assertMaps(Map.of(flow(INBOUND, V4_SRC, "10.0.0.2"), v(2, later.length + 20)), Map.of());
        }
    }

    @Test
    void fragmentsInsideQinQ() {
        byte[] first = ethernet().vlan(ETH_P_8021AD, 100).vlan(200).ipv4("192.0.2.1", "10.0.0.2")
                .ipv4Fragment(0, true).udp(1, 2).payload(500).build();
        byte[] later = ethernet().vlan(ETH_P_8021AD, 100).vlan(200).ipv6("2001:db8::1", "fd00::2")
                .fragment(512, false).protocol(17).payload(64).build();
        try (ProgTestRun t = ProgTestRun.load()) {
            t.run(INBOUND, first);
            t.run(INBOUND, later);
            t.assertMaps(Map.of(
                    flow(INBOUND, "192.0.2.1", "10.0.0.2"), v(1, first.length),
                    flow(INBOUND, "2001:db8::1", "fd00::2"), v(1, later.length)), Map.of());
        }
    }
}
