package dev.ebpftraffic.testing;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static dev.ebpftraffic.testing.Frames.ethernet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The frame builder the kernel tests rely on: lengths, header fields and checksums, byte by byte. */
class FramesTest {

    private static int u16(byte[] f, int off) {
        return ((f[off] & 0xff) << 8) | (f[off + 1] & 0xff);
    }

    @Test
    void ipv4UdpByteForByte() {
        byte[] f = ethernet().ipv4("10.0.0.1", "1.1.1.1").udp(1234, 53).payload(4).build();
        assertEquals("020000000002" + "020000000001" + "0800"
                        + "4500" + "0020" + "4242" + "4000" + "4011" + HexFormat.of().toHexDigits((short) Frames.checksum(withZeroChecksum(f), 14, 34))
                        + "0a000001" + "01010101"
                        + "04d2" + "0035" + "000c" + HexFormat.of().toHexDigits((short) u16(f, 40)) + "00010203",
                HexFormat.of().formatHex(f));
        assertEquals(0, Frames.checksum(f, 14, 34), "IPv4 header checksum verifies");
        // UDP checksum verifies with the pseudo-header: src, dst, 0, proto, length.
        byte[] pseudo = new byte[12 + 12];
        System.arraycopy(f, 26, pseudo, 0, 8);
        pseudo[9] = 17;
        pseudo[11] = 12;
        System.arraycopy(f, 34, pseudo, 12, 12);
        assertEquals(0, Frames.checksum(pseudo, 0, pseudo.length));
    }

    private static byte[] withZeroChecksum(byte[] f) {
        byte[] c = f.clone();
        c[24] = 0;
        c[25] = 0;
        return c;
    }

    @Test
    void ipv4OptionsSetIhlAndTotalLength() {
        for (int opt = 0; opt <= 40; opt += 4) {
            byte[] f = ethernet().ipv4("192.168.0.1", "8.8.8.8").ipv4Options(opt).tcp(1, 2, 8).payload(3).build();
            assertEquals(14 + 20 + opt + 28 + 3, f.length);
            assertEquals(0x40 | (5 + opt / 4), f[14] & 0xff);
            assertEquals(20 + opt + 28 + 3, u16(f, 16));
            assertEquals(0, Frames.checksum(f, 14, 34 + opt));
            assertEquals(7 << 4, f[14 + 20 + opt + 12] & 0xff, "TCP doff 7");
        }
        assertThrows(IllegalArgumentException.class, () -> ethernet().ipv4("10.0.0.1", "10.0.0.2").ipv4Options(44));
        assertThrows(IllegalArgumentException.class, () -> ethernet().ipv4("10.0.0.1", "10.0.0.2").ipv4Options(6));
    }

    @Test
    void ihlAndVersionOverrides() {
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").ihl(4).ipVersion(6).build();
        assertEquals(0x64, f[14] & 0xff);
        byte[] g = ethernet().ipv6("fd00::1", "fd00::2").ipVersion(4).build();
        assertEquals(4, (g[14] & 0xff) >> 4);
    }

    @Test
    void vlanTagsSitBetweenMacsAndEthertype() {
        byte[] f = ethernet().vlan(Frames.ETH_P_8021AD, 100).vlan(200).ipv4("10.0.0.1", "10.0.0.2").build();
        assertEquals(0x88a8, u16(f, 12));
        assertEquals(100, u16(f, 14));
        assertEquals(0x8100, u16(f, 16));
        assertEquals(200, u16(f, 18));
        assertEquals(0x0800, u16(f, 20));
        assertEquals(22 + 20, f.length);
    }

    @Test
    void ipv6ExtensionHeaderChain() {
        byte[] f = ethernet().ipv6("2001:db8::1", "2606:4700::1111")
                .hopByHop(16).routing().fragment().authenticationHeader().destinationOptions(8)
                .tcp(1, 2, 4).payload(5).build();
        int ext = 16 + 24 + 8 + 24 + 8;
        assertEquals(14 + 40 + ext + 24 + 5, f.length);
        assertEquals(ext + 24 + 5, u16(f, 18), "payload length");
        assertEquals(Frames.IPPROTO_HOPOPTS, f[20]);
        int off = 54;
        assertEquals(Frames.IPPROTO_ROUTING, f[off]);
        assertEquals(1, f[off + 1], "hop-by-hop 16 bytes = (1 + 1) * 8");
        off += 16;
        assertEquals(Frames.IPPROTO_FRAGMENT, f[off]);
        assertEquals(2, f[off + 1]);
        off += 24;
        assertEquals(Frames.IPPROTO_AH, f[off]);
        off += 8;
        assertEquals(Frames.IPPROTO_DSTOPTS, f[off]);
        assertEquals(4, f[off + 1], "AH 24 bytes = (4 + 2) * 4");
        off += 24;
        assertEquals(Frames.IPPROTO_TCP, f[off]);
        assertEquals(0, f[off + 1]);
        off += 8;
        assertEquals(6 << 4, f[off + 12] & 0xff, "TCP doff 6");
    }

    @Test
    void nonIpFrames() {
        byte[] arp = ethernet().arp("10.0.0.1", "10.0.0.2").build();
        assertEquals(14 + 28, arp.length);
        assertEquals(Frames.ETH_P_ARP, u16(arp, 12));
        byte[] lldp = ethernet().lldp().build();
        assertEquals(Frames.ETH_P_LLDP, u16(lldp, 12));
        assertEquals(0, u16(lldp, lldp.length - 2), "end TLV");
    }

    @Test
    void truncate() {
        byte[] f = ethernet().ipv4("10.0.0.1", "10.0.0.2").build();
        assertEquals(20, Frames.truncate(f, 20).length);
        assertThrows(IllegalArgumentException.class, () -> Frames.truncate(f, f.length + 1));
        assertThrows(IllegalArgumentException.class, () -> Frames.addr("example.com"));
    }
}
