package dev.ebpftraffic.dns;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ResolvConfTest {
    @Test
    void nameserversAsGlibcReadsThem() {
        assertEquals(List.of(new InetSocketAddress("10.0.0.53", 53), new InetSocketAddress("fd00::53", 53),
                new InetSocketAddress("192.0.2.53", 53)), ResolvConf.parse(List.of(
                "# comment", "search example.org", "nameserver 10.0.0.53", "nameserver\tfd00::53  # v6",
                "nameserver fe80::1%eth0", "nameserver dns.example.org", "nameserver 192.0.2.53", "nameserver 192.0.2.54",
                "options ndots:2")));
    }

    @Test
    void noneMeansTheLocalHost() {
        assertEquals(List.of(new InetSocketAddress("127.0.0.1", 53)), ResolvConf.parse(List.of("search x")));
        assertEquals(List.of(new InetSocketAddress("127.0.0.1", 53)), ResolvConf.servers(java.nio.file.Path.of("/nonexistent/resolv.conf")));
    }
}
