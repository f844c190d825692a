package dev.ebpftraffic.bench;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Ethernet frames for BPF_PROG_TEST_RUN benchmarks: UDP with a 64-byte payload over IPv4 or
 * IPv6, with 0, 1 or 2 VLAN tags. Checksums are not filled in (the program never reads them).
 * Addresses come from private and documentation ranges.
 */
final class Frames {
    static final int PAYLOAD = 64;

    private Frames() {
    }

    static byte[] udp4(String src, String dst, int vlanTags) {
        ByteArrayOutputStream f = ethernet(vlanTags, 0x0800);
        int total = 20 + 8 + PAYLOAD;
        byte[] ip = new byte[20];
        ip[0] = 0x45;
        ip[2] = (byte) (total >> 8);
        ip[3] = (byte) total;
        ip[8] = 64;   // ttl
        ip[9] = 17;   // udp
        System.arraycopy(addr(src, 4), 0, ip, 12, 4);
        System.arraycopy(addr(dst, 4), 0, ip, 16, 4);
        f.writeBytes(ip);
        f.writeBytes(udp());
        return f.toByteArray();
    }

    static byte[] udp6(String src, String dst, int vlanTags) {
        ByteArrayOutputStream f = ethernet(vlanTags, 0x86DD);
        byte[] ip = new byte[40];
        ip[0] = 0x60;
        int plen = 8 + PAYLOAD;
        ip[4] = (byte) (plen >> 8);
        ip[5] = (byte) plen;
        ip[6] = 17;   // next header: udp
        ip[7] = 64;   // hop limit
        System.arraycopy(addr(src, 16), 0, ip, 8, 16);
        System.arraycopy(addr(dst, 16), 0, ip, 24, 16);
        f.writeBytes(ip);
        f.writeBytes(udp());
        return f.toByteArray();
    }

    /** An ARP request: the non-IP slow path. */
    static byte[] arp() {
        ByteArrayOutputStream f = ethernet(0, 0x0806);
        f.writeBytes(new byte[28]);
        return f.toByteArray();
    }

    private static ByteArrayOutputStream ethernet(int vlanTags, int etherType) {
        ByteArrayOutputStream f = new ByteArrayOutputStream();
        f.writeBytes(new byte[] {0x02, 0, 0, 0, 0, 0x02}); // dst mac (locally administered)
        f.writeBytes(new byte[] {0x02, 0, 0, 0, 0, 0x01}); // src mac
        if (vlanTags == 2) {
            f.writeBytes(new byte[] {(byte) 0x88, (byte) 0xA8, 0, 100}); // 802.1ad, vid 100
        }
        if (vlanTags >= 1) {
            f.writeBytes(new byte[] {(byte) 0x81, 0x00, 0, 10});        // 802.1Q, vid 10
        }
        f.write(etherType >> 8);
        f.write(etherType & 0xff);
        return f;
    }

    private static byte[] udp() {
        byte[] u = new byte[8 + PAYLOAD];
        u[0] = (byte) (40000 >> 8);
        u[1] = (byte) 40000;
        u[2] = 0;
        u[3] = 9;   // discard
        int len = 8 + PAYLOAD;
        u[4] = (byte) (len >> 8);
        u[5] = (byte) len;
        for (int i = 8; i < u.length; i++) {
            u[i] = (byte) i;
        }
        return u;
    }

    private static byte[] addr(String s, int len) {
        try {
            byte[] a = InetAddress.getByName(s).getAddress();
            if (a.length != len) {
                throw new IllegalArgumentException(s + " is not a " + (len == 4 ? "IPv4" : "IPv6") + " address");
            }
            return a;
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
