package dev.ebpftraffic.live;

import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.testing.TestWorkloads;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /api/v1/workloads of the real exporter (started with nsenter, so it sees the cgroup2 mount), while
 * sockets of test cgroups named like a systemd service (in b), a Docker container and a Kubernetes
 * pod's container (in a) exchange known UDP datagrams across the veth: exact bytes and packets per
 * workload and direction, equal to the Prometheus family, and each workload's remote peers with
 * exact bytes (peers are counted from the first request on, so all of this traffic is in them).
 * The neighbours are static: every packet between the test addresses belongs to a test socket.
 */
@KernelTest
@Timeout(150)
class WorkloadsApiKernelTest {
    static final String A4 = "10.82.0.1";
    static final String B4 = "10.82.0.2";
    static final String A6 = "fd00:82::1";
    static final String B6 = "fd00:82::2";

    static WorkloadSnapshot workloads(String ns, String query) {
        HttpGet.Response r = HttpGet.get(ns, "127.0.0.1", ExporterProcess.PORT, "/api/v1/workloads?" + query);
        assertEquals(200, r.status(), r.head() + "\n" + r.body());
        return WorkloadJson.read(r.body());
    }

    static WorkloadSnapshot.Row row(WorkloadSnapshot s, String workload, String direction) {
        List<WorkloadSnapshot.Row> rows = s.rows().stream()
                .filter(r -> r.workload().equals(workload) && r.direction().equals(direction)).toList();
        assertEquals(1, rows.size(), workload + " " + direction + " in " + WorkloadJson.write(s));
        return rows.getFirst();
    }

    /** ip -> {packets, bytes} of a row's listed peers. */
    static Map<String, List<Long>> peers(WorkloadSnapshot.Row r) {
        Map<String, List<Long>> m = new TreeMap<>();
        r.peers().forEach(p -> m.put(p.ip(), List.of(p.packets(), p.bytes())));
        return m;
    }

    /** Sends count datagrams of each size from -> to (connected pair), waits for each; returns {packets, IP bytes}. */
    static long[] send(DatagramChannel from, DatagramChannel to, int ipHeader, int count, int... sizes) throws Exception {
        long[] sent = new long[2];
        for (int n : sizes) {
            for (int i = 0; i < count; i++) {
                from.write(ByteBuffer.allocate(n));
                ByteBuffer got = ByteBuffer.allocate(2000);
                to.receive(got);
                assertEquals(n, got.position());
                sent[0]++;
                sent[1] += ipHeader + 8 + n;
            }
        }
        return sent;
    }

    static DatagramChannel udp(Path group, String ns, String addr) throws Exception {
        StandardProtocolFamily fam = addr.contains(":") ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET;
        return TestCgroups.callIn(group, () -> Setns.call(ns, () ->
                DatagramChannel.open(fam).bind(new InetSocketAddress(NetNs.parse(addr), 0))));
    }

    @Test
    void exactPerWorkloadEqualToPrometheusWithExactPeers() throws Exception {
        try (TestWorkloads w = TestWorkloads.create(); NetNs net = NetNs.pair()) {
            TestWorkloads.addresses(net, A4, B4, A6, B6);
            ExporterProcess exporter = net.own(ExporterProcess.startSeeingCgroups(net.b, "workloads-api", "--iface", net.ifB,
                    "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup", "--max-series", "0"));
            exporter.awaitAttached(Duration.ofSeconds(30));

            WorkloadSnapshot first = workloads(net.b, "");
            assertTrue(first.sampling(), "the first request starts the sampler and the kernel's peer counting");
            Thread.sleep(1200);

            long[] dockerToSvc;
            long[] svcToDocker;
            long[] podToSvc;
            try (DatagramChannel svc4 = udp(w.service(), net.b, B4); DatagramChannel svc6 = udp(w.service(), net.b, B6);
                 DatagramChannel docker = udp(w.docker(), net.a, A4); DatagramChannel pod = udp(w.pod(), net.a, A6)) {
                docker.connect(svc4.getLocalAddress());
                svc4.connect(docker.getLocalAddress());
                pod.connect(svc6.getLocalAddress());
                svc6.connect(pod.getLocalAddress());
                dockerToSvc = send(docker, svc4, 20, 3, 1, 100, 1000, 1400);
                svcToDocker = send(svc4, docker, 20, 2, 50, 1200);
                podToSvc = send(pod, svc6, 40, 4, 10, 700);
            }
            Thread.sleep(2500); // the sampler's refreshes (1 s) read it all

            WorkloadSnapshot s = workloads(net.b, "n=100&peers=10");
            HttpGet.Response example = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT,
                    "/api/v1/workloads?n=2&workload=" + w.serviceName() + "&sort=bytes&peers=2");
            java.nio.file.Path exampleDir = ExporterProcess.projectRoot().resolve("target/live-view");
            java.nio.file.Files.createDirectories(exampleDir);
            java.nio.file.Files.writeString(exampleDir.resolve("api-workloads.json"), example.body()); // an example for people
            String ctx = "\n" + WorkloadJson.write(s);
            WorkloadSnapshot.Row svcIn = row(s, w.serviceName(), "inbound");
            WorkloadSnapshot.Row svcOut = row(s, w.serviceName(), "outbound");
            WorkloadSnapshot.Row dockerOut = row(s, w.dockerName(), "outbound");
            WorkloadSnapshot.Row dockerIn = row(s, w.dockerName(), "inbound");
            WorkloadSnapshot.Row podOut = row(s, w.podName(), "outbound");
            assertEquals("systemd", svcIn.kind());
            assertEquals("container", dockerOut.kind());
            assertEquals("kubernetes", podOut.kind());
            assertEquals("private", svcIn.ipType());
            assertEquals(List.of(dockerToSvc[0] + podToSvc[0], dockerToSvc[1] + podToSvc[1]),
                    List.of(svcIn.packets(), svcIn.bytes()), "service inbound" + ctx);
            assertEquals(List.of(svcToDocker[0], svcToDocker[1]), List.of(svcOut.packets(), svcOut.bytes()), "service outbound" + ctx);
            assertEquals(List.of(dockerToSvc[0], dockerToSvc[1]), List.of(dockerOut.packets(), dockerOut.bytes()), ctx);
            assertEquals(List.of(svcToDocker[0], svcToDocker[1]), List.of(dockerIn.packets(), dockerIn.bytes()), ctx);
            assertEquals(List.of(podToSvc[0], podToSvc[1]), List.of(podOut.packets(), podOut.bytes()), ctx);
            assertTrue(s.rows().stream().noneMatch(r -> r.workload().equals(w.podName()) && r.direction().equals("inbound")),
                    "the pod received nothing" + ctx);

            // The peers: who each workload talked to, exactly.
            assertEquals(Map.of(A4, List.of(dockerToSvc[0], dockerToSvc[1]), A6, List.of(podToSvc[0], podToSvc[1])),
                    peers(svcIn), "service's inbound peers" + ctx);
            assertEquals(Map.of(A4, List.of(svcToDocker[0], svcToDocker[1])), peers(svcOut), ctx);
            assertEquals(Map.of(B4, List.of(dockerToSvc[0], dockerToSvc[1])), peers(dockerOut), ctx);
            assertEquals(Map.of(B4, List.of(svcToDocker[0], svcToDocker[1])), peers(dockerIn), ctx);
            assertEquals(Map.of(B6, List.of(podToSvc[0], podToSvc[1])), peers(podOut), ctx);
            assertNull(svcIn.otherPeers(), ctx);
            assertEquals(List.of(0L, 0L), List.of(s.peersFull().get(0).bytes(), s.peersFull().get(1).bytes()));
            // Top peers cut to 1: the larger (the container's bytes), the rest in other_peers.
            WorkloadSnapshot.Row cut = row(workloads(net.b, "n=100&peers=1&sort=bytes"), w.serviceName(), "inbound");
            String big = dockerToSvc[1] >= podToSvc[1] ? A4 : A6;
            long[] small = big.equals(A4) ? podToSvc : dockerToSvc;
            assertEquals(List.of(big), cut.peers().stream().map(WorkloadSnapshot.Peer::ip).toList());
            assertEquals(List.of(small[0], small[1]), List.of(cut.otherPeers().packets(), cut.otherPeers().bytes()));

            // The same counters as the Prometheus family (a series shows 0 in its first scrape: scrape twice).
            exporter.scrape();
            Metrics m = exporter.scrape();
            WorkloadSnapshot again = workloads(net.b, "n=1000");
            int compared = 0;
            for (WorkloadSnapshot.Row r : again.rows()) {
                java.util.function.Predicate<Metrics.Sample> sel = x -> r.workload().equals(x.label("workload"))
                        && r.kind().equals(x.label("kind")) && r.direction().equals(x.label("direction"))
                        && r.ipType().equals(x.label("ip_type"));
                assertEquals(1, m.samples(x -> x.name().equals("network_workload_traffic_bytes_total") && sel.test(x)).size(),
                        r + "\n" + m.text());
                assertEquals(r.bytes(), m.sum("network_workload_traffic_bytes_total", sel), "bytes of " + r.workload());
                assertEquals(r.packets(), m.sum("network_workload_traffic_packets_total", sel), "packets of " + r.workload());
                compared++;
            }
            assertTrue(compared >= 5, "compared " + compared);
            long promSeries = m.samples(x -> x.name().equals("network_workload_traffic_bytes_total")).size();
            assertEquals(promSeries, again.matched(), "one row per series of the family");

            // Filters: the text filter matches the workload or its kind; direction; a bad query is one line.
            WorkloadSnapshot onlySvc = workloads(net.b, "workload=" + w.serviceName().substring(0, 12).toUpperCase());
            assertEquals(List.of(w.serviceName(), w.serviceName()), onlySvc.rows().stream().map(WorkloadSnapshot.Row::workload).toList());
            WorkloadSnapshot k8sOut = workloads(net.b, "workload=kubernetes&direction=outbound");
            assertTrue(k8sOut.rows().stream().anyMatch(r -> r.workload().equals(w.podName())), WorkloadJson.write(k8sOut));
            assertTrue(k8sOut.rows().stream().allMatch(r -> r.kind().equals("kubernetes") && r.direction().equals("outbound")));
            HttpGet.Response bad = HttpGet.get(net.b, "127.0.0.1", ExporterProcess.PORT, "/api/v1/workloads?peers=500");
            assertEquals(400, bad.status());
            assertEquals("{\"error\":\"invalid peers 500: must be between 0 and 100\"}\n", bad.body());
        }
    }
}
