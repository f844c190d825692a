package dev.ebpftraffic.cli;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ReverseDnsOptionsTest {
    @Test
    void defaultsOnWithResolvConf() {
        ReverseDnsOptions o = ReverseDnsOptions.extract(List.of("--iface", "eth0"));
        assertEquals(new ReverseDnsOptions(true, List.of(), List.of("--iface", "eth0")), o);
    }

    @Test
    void flagsAreTakenOutOfTheArguments() {
        ReverseDnsOptions o = ReverseDnsOptions.extract(List.of("--iface", "eth0", "--live.reverse-dns=false",
                "--live.dns-server", "192.0.2.53:5353, [2001:db8::53]:53,10.0.0.1", "--addr", ":9091"));
        assertEquals(false, o.enabled());
        assertEquals(List.of(new InetSocketAddress("192.0.2.53", 5353), new InetSocketAddress("2001:db8::53", 53),
                new InetSocketAddress("10.0.0.1", 53)), o.servers());
        assertEquals(List.of("--iface", "eth0", "--addr", ":9091"), o.rest());
        assertEquals(true, ReverseDnsOptions.extract(List.of("--live.reverse-dns", "true")).enabled());
    }

    @Test
    void badValuesSayWhatToFix() {
        assertEquals("invalid --live.reverse-dns \"no\": use true or false",
                assertThrows(UsageException.class, () -> ReverseDnsOptions.extract(List.of("--live.reverse-dns=no"))).getMessage());
        for (String bad : List.of("", "dns.example.org", "192.0.2.53:0", "192.0.2.53:70000", "[2001:db8::1", "2001:db8::1:53:x",
                "192.0.2.53,", "[2001:db8::1]x", "10.1", "1:53")) {
            UsageException e = assertThrows(UsageException.class,
                    () -> ReverseDnsOptions.extract(List.of("--live.dns-server=" + bad)), bad);
            assertEquals("invalid --live.dns-server \"" + bad + "\": give IP addresses, with a port if not 53: 192.0.2.53, "
                    + "192.0.2.53:5353, [2001:db8::53]:53, comma separated", e.getMessage());
        }
        assertEquals("flag --live.dns-server needs a value, see --help",
                assertThrows(UsageException.class, () -> ReverseDnsOptions.extract(List.of("--live.dns-server"))).getMessage());
    }
}
