package dev.ebpftraffic.testing;

import java.io.ByteArrayOutputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Builds Ethernet frames byte by byte for BPF_PROG_TEST_RUN: Ethernet with 0, 1 or 2 (or more)
 * VLAN tags, IPv4 (correct header checksum, optional options), IPv6 (optional extension
 * headers), UDP, TCP (with options), ICMP / ICMPv6 echo, ARP and any other ethertype, and
 * deliberately broken variants (wrong version, IHL below 5, truncation via {@link #truncate}).
 *
 * <p>Lengths are exact: nothing is padded to the 60-byte Ethernet minimum, so a test knows
 * skb->len from {@code frame.length}. L4 checksums are filled in too (pseudo-header with the
 * IPv6 header's destination), although the program under test never looks at them.
 */
public final class Frames {
    public static final int ETH_HLEN = 14;
    public static final int VLAN_HLEN = 4;
    public static final int IPV4_HLEN = 20;
    public static final int IPV6_HLEN = 40;
    public static final int UDP_HLEN = 8;
    public static final int TCP_HLEN = 20;

    public static final int ETH_P_IP = 0x0800;
    public static final int ETH_P_ARP = 0x0806;
    public static final int ETH_P_8021Q = 0x8100;
    public static final int ETH_P_8021AD = 0x88A8;
    public static final int ETH_P_IPV6 = 0x86DD;
    public static final int ETH_P_LLDP = 0x88CC;

    public static final int IPPROTO_HOPOPTS = 0;
    public static final int IPPROTO_ICMP = 1;
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_UDP = 17;
    public static final int IPPROTO_ROUTING = 43;
    public static final int IPPROTO_FRAGMENT = 44;
    public static final int IPPROTO_AH = 51;
    public static final int IPPROTO_ICMPV6 = 58;
    public static final int IPPROTO_NONE = 59;
    public static final int IPPROTO_DSTOPTS = 60;

    private Frames() {
    }

    /** A new frame: Ethernet II between two locally administered MACs. */
    public static Builder ethernet() {
        return new Builder();
    }

    /** The first len bytes of frame: a frame cut short. */
    public static byte[] truncate(byte[] frame, int len) {
        if (len > frame.length) {
            throw new IllegalArgumentException("cannot truncate " + frame.length + " bytes to " + len);
        }
        return Arrays.copyOf(frame, len);
    }

    /** Parses a literal IPv4 or IPv6 address (no DNS lookup: only literals are accepted). */
    public static byte[] addr(String literal) {
        if (!literal.matches("[0-9a-fA-F:.]+")) {
            throw new IllegalArgumentException("not an IP literal: " + literal);
        }
        try {
            InetAddress a = InetAddress.getByName(literal);
            if (literal.contains(":") && a instanceof Inet4Address) {
                // Java folds ::ffff:a.b.c.d to IPv4; keep the 16-byte form the frame asked for.
                byte[] b = new byte[16];
                b[10] = b[11] = (byte) 0xff;
                System.arraycopy(a.getAddress(), 0, b, 12, 4);
                return b;
            }
            return a.getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(literal, e);
        }
    }

    private enum L3 { NONE, IPV4, IPV6, RAW }

    private enum L4 { NONE, UDP, TCP, ICMP, ICMPV6, RAW }

    private record Ext(int type, int length) {
    }

    public static final class Builder {
        private final byte[] dstMac = {0x02, 0, 0, 0, 0, 0x02};
        private final byte[] srcMac = {0x02, 0, 0, 0, 0, 0x01};
        private final List<int[]> vlans = new ArrayList<>();
        private L3 l3 = L3.NONE;
        private int etherType = -1;
        private byte[] rawL3 = new byte[0];
        private byte[] src;
        private byte[] dst;
        private int ipv4OptionBytes;
        private Integer ihlOverride;
        private Integer versionOverride;
        private final List<Ext> ext = new ArrayList<>();
        private L4 l4 = L4.NONE;
        private int rawProto = IPPROTO_NONE;
        private int sport;
        private int dport;
        private int tcpOptionBytes;
        private int payload;
        private byte[] payloadBytes;
        private int v4FragOff = 0x4000; // DF, offset 0
        private int v6FragField; // offset << 3 | M

        private Builder() {
        }

        /** Adds an 802.1Q tag (TPID 0x8100) with this VLAN id; call twice for QinQ. */
        public Builder vlan(int vid) {
            return vlan(ETH_P_8021Q, vid);
        }

        /** Adds a VLAN tag with this TPID (0x8100 or 0x88a8) and VLAN id. */
        public Builder vlan(int tpid, int vid) {
            vlans.add(new int[] {tpid, vid & 0x0fff});
            return this;
        }

        /** IPv4 between two literal addresses. */
        public Builder ipv4(String from, String to) {
            l3 = L3.IPV4;
            etherType = ETH_P_IP;
            src = addr(from);
            dst = addr(to);
            if (src.length != 4 || dst.length != 4) {
                throw new IllegalArgumentException("IPv4 needs IPv4 addresses: " + from + ", " + to);
            }
            return this;
        }

        /** IPv4 options of this many bytes (a multiple of 4, at most 40): IHL = 5 + bytes / 4. */
        public Builder ipv4Options(int bytes) {
            if (bytes < 0 || bytes > 40 || bytes % 4 != 0) {
                throw new IllegalArgumentException("IPv4 options are 0..40 bytes in steps of 4, not " + bytes);
            }
            ipv4OptionBytes = bytes;
            return this;
        }

        /** Writes this IHL into the IPv4 header whatever its real length (for invalid headers). */
        public Builder ihl(int ihl) {
            ihlOverride = ihl;
            return this;
        }

        /** Writes this version into the IP header (for invalid headers). */
        public Builder ipVersion(int version) {
            versionOverride = version;
            return this;
        }

        /** IPv6 between two literal addresses. */
        public Builder ipv6(String from, String to) {
            l3 = L3.IPV6;
            etherType = ETH_P_IPV6;
            src = addr(from);
            dst = addr(to);
            if (src.length != 16 || dst.length != 16) {
                throw new IllegalArgumentException("IPv6 needs IPv6 addresses: " + from + ", " + to);
            }
            return this;
        }

        /** A hop-by-hop options header of this length (a multiple of 8), filled with PadN. */
        public Builder hopByHop(int length) {
            return extension(IPPROTO_HOPOPTS, length);
        }

        /** A destination options header of this length (a multiple of 8), filled with PadN. */
        public Builder destinationOptions(int length) {
            return extension(IPPROTO_DSTOPTS, length);
        }

        /** A type 2 routing header (24 bytes) with segments left 0. */
        public Builder routing() {
            return extension(IPPROTO_ROUTING, 24);
        }

        /** A fragment header (8 bytes): offset 0, no more fragments (an atomic fragment). */
        public Builder fragment() {
            return extension(IPPROTO_FRAGMENT, 8);
        }

        /**
         * A fragment header (8 bytes) at this fragment offset in bytes (a multiple of 8) with the
         * M (more fragments) flag as given.
         */
        public Builder fragment(int offsetBytes, boolean more) {
            if (offsetBytes < 0 || offsetBytes % 8 != 0 || offsetBytes > 0xFFF8) {
                throw new IllegalArgumentException("a fragment offset is a multiple of 8 below 65536, not " + offsetBytes);
            }
            v6FragField = offsetBytes | (more ? 1 : 0);
            return extension(IPPROTO_FRAGMENT, 8);
        }

        /**
         * Makes the IPv4 packet a fragment: this offset in bytes (a multiple of 8), MF as given, DF clear.
         * The L4 bytes of a non-first fragment are just whatever payload() says.
         */
        public Builder ipv4Fragment(int offsetBytes, boolean more) {
            if (offsetBytes < 0 || offsetBytes % 8 != 0 || offsetBytes > 0xFFF8) {
                throw new IllegalArgumentException("a fragment offset is a multiple of 8 below 65536, not " + offsetBytes);
            }
            v4FragOff = (more ? 0x2000 : 0) | (offsetBytes / 8);
            return this;
        }

        /** An authentication header with a 96-bit ICV (24 bytes; its length field counts 4-byte units). */
        public Builder authenticationHeader() {
            return extension(IPPROTO_AH, 24);
        }

        private Builder extension(int type, int length) {
            if (l3 != L3.IPV6) {
                throw new IllegalStateException("extension headers need ipv6() first");
            }
            if (length < 8 || length % 8 != 0 || length > 2048) {
                throw new IllegalArgumentException("an extension header is 8..2048 bytes in steps of 8, not " + length);
            }
            ext.add(new Ext(type, length));
            return this;
        }

        public Builder udp(int from, int to) {
            l4 = L4.UDP;
            sport = from;
            dport = to;
            return this;
        }

        public Builder tcp(int from, int to) {
            return tcp(from, to, 0);
        }

        /** TCP with optionBytes of options (a multiple of 4, at most 40): doff = 5 + optionBytes / 4. */
        public Builder tcp(int from, int to, int optionBytes) {
            if (optionBytes < 0 || optionBytes > 40 || optionBytes % 4 != 0) {
                throw new IllegalArgumentException("TCP options are 0..40 bytes in steps of 4, not " + optionBytes);
            }
            l4 = L4.TCP;
            sport = from;
            dport = to;
            tcpOptionBytes = optionBytes;
            return this;
        }

        /** ICMP echo request (IPv4) or ICMPv6 echo request (IPv6), 8-byte header. */
        public Builder echoRequest() {
            l4 = l3 == L3.IPV6 ? L4.ICMPV6 : L4.ICMP;
            return this;
        }

        /** An L4 protocol number with no header of ours: the payload follows the IP header directly. */
        public Builder protocol(int proto) {
            l4 = L4.RAW;
            rawProto = proto;
            return this;
        }

        /** This many payload bytes after the L4 header (a counting pattern). */
        public Builder payload(int bytes) {
            payload = bytes;
            payloadBytes = null;
            return this;
        }

        /** Exactly these payload bytes after the L4 header (with protocol(): right after the IP header). */
        public Builder payload(byte[] bytes) {
            payload = bytes.length;
            payloadBytes = bytes.clone();
            return this;
        }

        /** An ARP request (28 bytes) for target from sender. */
        public Builder arp(String sender, String target) {
            l3 = L3.RAW;
            etherType = ETH_P_ARP;
            Bytes b = new Bytes();
            b.u16(1).u16(ETH_P_IP).u8(6).u8(4).u16(1);
            b.put(srcMac).put(addr(sender)).put(new byte[6]).put(addr(target));
            rawL3 = b.toByteArray();
            return this;
        }

        /** An LLDP frame with chassis id, port id, TTL and end TLVs. */
        public Builder lldp() {
            l3 = L3.RAW;
            etherType = ETH_P_LLDP;
            Bytes b = new Bytes();
            b.u16((1 << 9) | 7).u8(4).put(srcMac);        // chassis id, subtype MAC
            b.u16((2 << 9) | 5).u8(7).put("eth0".getBytes(java.nio.charset.StandardCharsets.US_ASCII)); // port id, ifname
            b.u16((3 << 9) | 2).u16(120);                  // TTL
            b.u16(0);                                      // end
            rawL3 = b.toByteArray();
            return this;
        }

        /** Any ethertype (or 802.3 length) followed by these bytes. */
        public Builder etherType(int type, byte[] body) {
            l3 = L3.RAW;
            etherType = type;
            rawL3 = body.clone();
            return this;
        }

        /**
         * The IP packet alone, without Ethernet header or VLAN tags: what a device without a
         * link-layer header (tun, WireGuard, ipip, gre) carries at its TC hooks.
         */
        public byte[] buildL3() {
            return switch (l3) {
                case IPV4 -> ipv4Packet();
                case IPV6 -> ipv6Packet();
                default -> throw new IllegalStateException("an L3 packet needs ipv4() or ipv6()");
            };
        }

        public byte[] build() {
            if (etherType < 0) {
                throw new IllegalStateException("no L3: call ipv4, ipv6, arp, lldp or etherType");
            }
            Bytes out = new Bytes();
            out.put(dstMac).put(srcMac);
            for (int[] tag : vlans) {
                out.u16(tag[0]).u16(tag[1]);
            }
            out.u16(etherType);
            switch (l3) {
                case RAW -> out.put(rawL3);
                case IPV4 -> out.put(ipv4Packet());
                case IPV6 -> out.put(ipv6Packet());
                default -> throw new IllegalStateException("no L3");
            }
            return out.toByteArray();
        }

        private int protoNumber() {
            return switch (l4) {
                case UDP -> IPPROTO_UDP;
                case TCP -> IPPROTO_TCP;
                case ICMP -> IPPROTO_ICMP;
                case ICMPV6 -> IPPROTO_ICMPV6;
                case RAW -> rawProto;
                case NONE -> IPPROTO_NONE;
            };
        }

        /** The L4 segment with its checksum computed over pseudo (null: ICMP, no pseudo-header). */
        private byte[] l4Segment(byte[] pseudoHeaderPrefix) {
            byte[] data = new byte[payload];
            for (int i = 0; i < payload; i++) {
                data[i] = payloadBytes != null ? payloadBytes[i] : (byte) i;
            }
            Bytes b = new Bytes();
            int csumAt;
            switch (l4) {
                case UDP -> {
                    b.u16(sport).u16(dport).u16(UDP_HLEN + payload).u16(0);
                    csumAt = 6;
                }
                case TCP -> {
                    int doff = 5 + tcpOptionBytes / 4;
                    b.u16(sport).u16(dport).u32(1000).u32(0).u8(doff << 4).u8(0x02 /* SYN */)
                            .u16(65535).u16(0).u16(0);
                    int left = tcpOptionBytes;
                    if (left >= 4) {
                        b.u8(2).u8(4).u16(1460); // MSS
                        left -= 4;
                    }
                    for (int i = 0; i < left; i++) {
                        b.u8(1); // NOP
                    }
                    csumAt = 16;
                }
                case ICMP, ICMPV6 -> {
                    b.u8(l4 == L4.ICMP ? 8 : 128).u8(0).u16(0).u16(0x1234).u16(1);
                    csumAt = 2;
                }
                default -> {
                    return data;
                }
            }
            b.put(data);
            byte[] seg = b.toByteArray();
            long sum = l4 == L4.ICMP ? 0 : sum(pseudoHeaderPrefix, 0);
            if (l4 != L4.ICMP) {
                sum += seg.length + protoNumber();
            }
            int csum = fold(sum + sum(seg, 0));
            if (l4 == L4.UDP && csum == 0) {
                csum = 0xffff;
            }
            seg[csumAt] = (byte) (csum >>> 8);
            seg[csumAt + 1] = (byte) csum;
            return seg;
        }

        private byte[] ipv4Packet() {
            byte[] l4bytes = l4Segment(concat(src, dst));
            int hlen = IPV4_HLEN + ipv4OptionBytes;
            int ihl = ihlOverride != null ? ihlOverride : hlen / 4;
            int version = versionOverride != null ? versionOverride : 4;
            Bytes h = new Bytes();
            h.u8((version << 4) | (ihl & 0xf)).u8(0).u16(hlen + l4bytes.length).u16(0x4242).u16(v4FragOff)
                    .u8(64).u8(protoNumber()).u16(0).put(src).put(dst);
            for (int i = 0; i < ipv4OptionBytes; i++) {
                h.u8(i == ipv4OptionBytes - 1 ? 0 /* EOL */ : 1 /* NOP */);
            }
            byte[] header = h.toByteArray();
            int csum = fold(sum(header, 0));
            header[10] = (byte) (csum >>> 8);
            header[11] = (byte) csum;
            return concat(header, l4bytes);
        }

        private byte[] ipv6Packet() {
            byte[] l4bytes = l4Segment(concat(src, dst));
            Bytes exts = new Bytes();
            for (int i = 0; i < ext.size(); i++) {
                Ext e = ext.get(i);
                int next = i + 1 < ext.size() ? ext.get(i + 1).type() : protoNumber();
                switch (e.type()) {
                    case IPPROTO_HOPOPTS, IPPROTO_DSTOPTS -> {
                        exts.u8(next).u8(e.length() / 8 - 1);
                        int pad = e.length() - 2; // one PadN option covering the rest
                        exts.u8(1).u8(pad - 2).put(new byte[pad - 2]);
                    }
                    case IPPROTO_ROUTING -> exts.u8(next).u8(2).u8(2 /* type 2 */).u8(0 /* segments left */)
                            .u32(0).put(dst);
                    case IPPROTO_FRAGMENT -> exts.u8(next).u8(0).u16(v6FragField /* offset << 3 | M */).u32(0xabcdef01);
                    case IPPROTO_AH -> exts.u8(next).u8(e.length() / 4 - 2).u16(0).u32(0x100 /* SPI */).u32(1)
                            .put(new byte[e.length() - 12]);
                    default -> throw new IllegalStateException("extension " + e.type());
                }
            }
            byte[] extBytes = exts.toByteArray();
            int first = ext.isEmpty() ? protoNumber() : ext.get(0).type();
            int version = versionOverride != null ? versionOverride : 6;
            Bytes h = new Bytes();
            h.u32((version << 28) | 0x12345 /* flow label */).u16(extBytes.length + l4bytes.length).u8(first).u8(64)
                    .put(src).put(dst);
            return concat(h.toByteArray(), extBytes, l4bytes);
        }
    }

    private static byte[] concat(byte[]... parts) {
        Bytes b = new Bytes();
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.toByteArray();
    }

    private static long sum(byte[] b, long acc) {
        for (int i = 0; i + 1 < b.length; i += 2) {
            acc += ((b[i] & 0xff) << 8) | (b[i + 1] & 0xff);
        }
        if (b.length % 2 == 1) {
            acc += (b[b.length - 1] & 0xff) << 8;
        }
        return acc;
    }

    /** One's complement of the folded one's complement sum (the Internet checksum). */
    private static int fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) (~sum & 0xffff);
    }

    /** The Internet checksum of bytes (0 when a header containing its checksum is valid). */
    public static int checksum(byte[] bytes, int from, int to) {
        return fold(sum(Arrays.copyOfRange(bytes, from, to), 0));
    }

    private static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u8(int v) {
            out.write(v & 0xff);
            return this;
        }

        Bytes u16(int v) {
            return u8(v >>> 8).u8(v);
        }

        Bytes u32(int v) {
            return u16(v >>> 16).u16(v);
        }

        Bytes put(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }
    }
}
