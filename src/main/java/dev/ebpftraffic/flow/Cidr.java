package dev.ebpftraffic.flow;

/**
 * An IPv4 or IPv6 prefix over the exporter's 16-byte addresses (IPv4 as ::ffff:a.b.c.d, so an
 * IPv4 /n is an IPv6 /96+n).
 */
public record Cidr(IpAddress network, int bits) {
    public static Cidr parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("\"" + text + "\" is not a CIDR: add a prefix length, e.g. 10.0.0.0/8");
        }
        IpAddress addr;
        try {
            addr = IpAddress.parse(text.substring(0, slash));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("\"" + text + "\" is not a CIDR: bad address");
        }
        boolean v4 = text.indexOf(':') < 0;
        int max = v4 ? 32 : 128;
        int len;
        try {
            len = Integer.parseInt(text.substring(slash + 1));
        } catch (NumberFormatException e) {
            len = -1;
        }
        if (len < 0 || len > max) {
            throw new IllegalArgumentException("\"" + text + "\" is not a CIDR: prefix length must be 0-" + max);
        }
        Cidr c = new Cidr(addr, v4 ? 96 + len : len);
        if (!c.network().equals(addr)) {
            throw new IllegalArgumentException("\"" + text + "\" has host bits set: did you mean " + c + "?");
        }
        return c;
    }

    public Cidr {
        network = mask(network, bits);
    }

    public boolean contains(IpAddress a) {
        return mask(a, bits).equals(network);
    }

    public static IpAddress mask(IpAddress a, int bits) {
        long hiMask = bits >= 64 ? -1L : bits == 0 ? 0 : -1L << (64 - bits);
        long loMask = bits <= 64 ? 0 : bits >= 128 ? -1L : -1L << (128 - bits);
        return new IpAddress(a.hi() & hiMask, a.lo() & loMask);
    }

    public boolean isIpv4() {
        return bits >= 96 && network.isIpv4();
    }

    @Override
    public String toString() {
        return network + "/" + (isIpv4() ? bits - 96 : bits);
    }
}
