package dev.ebpftraffic.e2e;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Lab;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Udp;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.ebpftraffic.testing.Lab.addr;
import static dev.ebpftraffic.testing.Lab.ip;
import static dev.ebpftraffic.testing.Lab.neigh;
import static dev.ebpftraffic.testing.Lab.veth;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Interface churn with real veths, as on a Kubernetes node: with --iface 'tx*' --max-series 8
 * --series-ttl 3s, twelve interfaces appear one after the other, each carries one pair (both
 * ways), and each is deleted. No scrape ever shows more than 8 traffic series; once the TTL has
 * passed, the gone interfaces' series (their "other" and per-interface self-metrics included) are
 * gone; and a pair on a new interface is exported with its exact counts.
 */
@KernelTest
class InterfaceChurnBudgetTest {
    static final int PORT = 9468;
    static final int PAYLOAD = 100;
    static final int FRAME = 14 + 20 + 8 + PAYLOAD;

    final AtomicInteger udpPort = new AtomicInteger(43000);

    @Test
    void twelveInterfacesComeAndGoWithinTheBudget() throws Exception {
        try (Lab lab = Lab.create()) {
            String host = lab.ns("host");
            NetNs.sysctls(host, Map.of("net/ipv6/conf/all/disable_ipv6", "1", "net/ipv6/conf/default/disable_ipv6", "1"));
            String s = lab.suffix();
            String mac = "02:" + s.substring(0, 2) + ":" + s.substring(2, 4) + ":" + s.substring(4, 6) + ":01:";
            ExporterProcess exp = lab.own(ExporterProcess.start(host, PORT, Map.of(), "churn", List.of(),
                    "--iface", "tx*", "--max-series", "8", "--series-ttl", "3s", "--addr", "127.0.0.1:" + PORT));
            awaitStarted(exp);
            int maxSeen = 0;
            for (int i = 1; i <= 12; i++) {
                String n = "tx" + i;
                carryOnePair(lab, host, n, i, mac, exp);
                for (int k = 0; k < 3; k++) { // scraped a few times while it lives
                    maxSeen = Math.max(maxSeen, checkBudget(exp.scrapeOnce(), "while " + n + " lives"));
                    Thread.sleep(300);
                }
                ip(host, "link", "del", n);
                maxSeen = Math.max(maxSeen, checkBudget(exp.scrapeOnce(), "after " + n + " was deleted"));
            }
            assertTrue(maxSeen >= 4, "the run filled the budget at least half: " + maxSeen);
            long deadline = System.nanoTime() + 15_000_000_000L; // TTL 3 s, drains and refreshes: well within
            Metrics m;
            while (true) {
                m = exp.scrapeOnce();
                checkBudget(m, "after the churn");
                if (m.samples("network_traffic_bytes_total").isEmpty()) {
                    break;
                }
                assertTrue(System.nanoTime() < deadline, "series of gone interfaces still exported:\n" + m.text());
                Thread.sleep(250);
            }
            assertEquals(List.of(), m.samples("ebpf_traffic_exporter_skipped_packets_total"), m.text());
            assertEquals(List.of(), m.samples("ebpf_traffic_exporter_flow_map_overflow_packets_total"), m.text());

            // A pair on a new interface gets exported, with its exact counts.
            carryOnePair(lab, host, "tx13", 13, mac, exp);
            Metrics after = exp.scrape(); // settled: a new series shows 0 in its first scrape
            checkBudget(after, "with tx13");
            Set<String> series = new TreeSet<>();
            for (Metrics.Sample x : after.samples("network_traffic_bytes_total")) {
                series.add(x.label("iface") + " " + x.label("direction") + " " + x.label("src_ip") + " -> " + x.label("dst_ip")
                        + " " + (long) x.value());
            }
            assertEquals(Set.of("tx13 inbound 10.65.13.2 -> 10.65.13.1 " + 3 * FRAME,
                    "tx13 outbound 10.65.13.1 -> 10.65.13.2 " + 2 * FRAME), series, after.text());
            assertTrue(exp.stderr().contains("tx12 is gone"), exp.stderr());
        }
    }

    /** Creates iface n (peer in its own namespace), waits for its hooks, sends 3 datagrams in and 2 out. */
    void carryOnePair(Lab lab, String host, String n, int i, String mac, ExporterProcess exp) throws InterruptedException {
        String c = lab.ns("c" + i);
        NetNs.sysctls(c, Map.of("net/ipv6/conf/all/disable_ipv6", "1", "net/ipv6/conf/default/disable_ipv6", "1"));
        String peerMac = mac + String.format("%02x", 2 * i);
        String hostMac = mac + String.format("%02x", 2 * i + 1);
        veth(c, "eth0", peerMac, host, n, hostMac);
        addr(c, "eth0", "10.65." + i + ".2/24");
        addr(host, n, "10.65." + i + ".1/24");
        neigh(c, "eth0", "10.65." + i + ".1", hostMac);
        neigh(host, n, "10.65." + i + ".2", peerMac);
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!exp.stderr().contains("attached to " + n + " (")) {
            assertTrue(System.nanoTime() < deadline, n + " not attached within 5 s:\n" + exp.stderr());
            Thread.sleep(10);
        }
        Udp.send(c, "10.65." + i + ".2", host, "10.65." + i + ".1", udpPort.getAndIncrement(), 3, PAYLOAD);
        Udp.send(host, "10.65." + i + ".1", c, "10.65." + i + ".2", udpPort.getAndIncrement(), 2, PAYLOAD);
    }

    static int checkBudget(Metrics m, String when) {
        int n = m.samples("network_traffic_bytes_total").size();
        assertTrue(n <= 8, when + ": " + n + " traffic series over the budget of 8:\n" + m.text());
        assertEquals(n, m.samples("network_traffic_packets_total").size(), m.text());
        return n;
    }

    static void awaitStarted(ExporterProcess exp) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!exp.stderr().contains("msg=\"watching --iface ")) {
            assertTrue(exp.isAlive(), () -> "exporter exited: " + exp.stderr());
            assertTrue(System.nanoTime() < deadline, "exporter did not start:\n" + exp.stderr());
            Thread.sleep(50);
        }
    }
}
