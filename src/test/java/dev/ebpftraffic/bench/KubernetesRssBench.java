package dev.ebpftraffic.bench;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.MockApiServer;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.TcpForward;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Memory of --kubernetes: the exporter's RSS with the mode off and with N pods (and their replica
 * sets, services and nodes) in the names cache, in the same run, on the same machine. The pods are
 * served by fabric8's mock API server in CRUD mode (test JVM, loopback), reached from the
 * exporter's namespace through a forwarder. Needs root and `make build`; run by
 * bench/kubernetes_rss.sh. A main, not a test.
 */
public final class KubernetesRssBench {
    private KubernetesRssBench() {
    }

    public static void main(String[] argv) throws Exception {
        int pods = 10_000;
        Path out = Path.of("target/bench/results/kubernetes_rss.txt");
        for (int i = 0; i < argv.length; i++) {
            switch (argv[i]) {
                case "--pods" -> pods = Integer.parseInt(argv[++i]);
                case "--out" -> out = Path.of(argv[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + argv[i]);
            }
        }
        // The mock server logs every request through java.util.logging: 20,000 lines would slow it.
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        for (java.util.logging.Handler h : java.util.logging.Logger.getLogger("").getHandlers()) {
            h.setLevel(java.util.logging.Level.WARNING);
        }
        int perReplicaSet = 10;
        int services = pods / 10;
        int nodes = Math.max(1, pods / 100);
        List<String> lines = new ArrayList<>();
        try (NetNs net = NetNs.pair(); MockApiServer api = new MockApiServer()) {
            long t0 = System.nanoTime();
            for (int n = 0; n < nodes; n++) {
                api.apply(MockApiServer.node("node-" + n, "192.168." + (n / 250) + "." + (1 + n % 250)));
            }
            for (int r = 0; r < pods / perReplicaSet; r++) {
                api.apply(MockApiServer.replicaSet("ns-" + r % 50, "app-" + r + "-5d8f7", "app-" + r));
            }
            for (int s = 0; s < services; s++) {
                api.apply(MockApiServer.service("ns-" + s % 50, "svc-" + s, "10.96." + (s / 250) + "." + (1 + s % 250)));
            }
            for (int p = 0; p < pods; p++) {
                int r = p / perReplicaSet;
                // Created with its status in one request (the store keeps what it is given).
                api.client().resource(MockApiServer.pod("ns-" + r % 50, "app-" + r + "-5d8f7-" + p,
                        "10.244." + (p / 250) + "." + (1 + p % 250), "ReplicaSet", "app-" + r + "-5d8f7")).create();
            }
            String ip = api.client().pods().inNamespace("ns-0").withName("app-0-5d8f7-0").get().getStatus().getPodIP();
            if (!"10.244.0.1".equals(ip)) {
                throw new IllegalStateException("the mock server dropped the pods' status: podIP " + ip);
            }
            lines.add(String.format("objects served: %d pods, %d replica sets, %d services, %d nodes (made in %.0f s)",
                    pods, pods / perReplicaSet, services, nodes, (System.nanoTime() - t0) / 1e9));
            try (TcpForward fwd = TcpForward.start(net.b, 0, api.port())) {
                Path kubeconfig = Files.createTempFile("bench-kubeconfig", ".yaml");
                Files.writeString(kubeconfig, """
                        apiVersion: v1
                        kind: Config
                        clusters: [{name: mock, cluster: {server: "http://127.0.0.1:%d"}}]
                        contexts: [{name: mock, context: {cluster: mock, user: mock}}]
                        current-context: mock
                        users: [{name: mock, user: {token: bench}}]
                        """.formatted(fwd.port()));
                for (String mode : List.of("off", "labels", "aggregate")) {
                    List<String> args = new ArrayList<>(List.of("--iface", net.ifB, "--addr", ExporterProcess.LISTEN,
                            "--workloads", "off", "--kubernetes", mode));
                    if (!mode.equals("off")) {
                        args.addAll(List.of("--kubernetes.kubeconfig", kubeconfig.toString()));
                    }
                    try (ExporterProcess e = ExporterProcess.start(net.b, "bench-k8s-" + mode, args.toArray(new String[0]))) {
                        e.awaitAttached(Duration.ofSeconds(60));
                        long s0 = System.nanoTime();
                        if (!mode.equals("off")) {
                            while (podsCached(e.scrapeOnce()) < pods) {
                                if (System.nanoTime() - s0 > Duration.ofMinutes(5).toNanos()) {
                                    throw new IllegalStateException("cache not filled in 5 min");
                                }
                                Thread.sleep(200);
                            }
                        }
                        double sync = (System.nanoTime() - s0) / 1e9;
                        Thread.sleep(10_000); // settle: the informers' lists are garbage now
                        for (int i = 0; i < 5; i++) {
                            e.scrapeOnce();
                        }
                        long rss = rssKb(e.pid());
                        Cmd.run(jcmd(), String.valueOf(e.pid()), "GC.run");
                        Thread.sleep(2_000);
                        long rssGc = rssKb(e.pid());
                        // Serial GC: young and old generation, then Metaspace (class metadata: the client library's code).
                        String heap = String.join("; ", Cmd.run(jcmd(), String.valueOf(e.pid()), "GC.heap_info").stdout().lines()
                                .filter(l -> l.contains("used") && !l.contains("space "))
                                .map(l -> l.strip().replaceAll("\\s+", " ").replaceAll(" \\[.*", "")).toList());
                        lines.add(String.format("--kubernetes %-9s RSS %6.1f MB, after a full GC %6.1f MB; heap: %s%s",
                                mode, rss / 1024.0, rssGc / 1024.0, heap,
                                mode.equals("off") ? "" : String.format("; %d pods listed in %.1f s", pods, sync)));
                        System.out.println(lines.getLast());
                        e.stop();
                    }
                }
            }
        }
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.write(out, lines);
        lines.forEach(System.out::println);
    }

    static double podsCached(Metrics m) {
        return m.samples("ebpf_traffic_exporter_kubernetes_objects").stream()
                .filter(s -> "pod".equals(s.label("kind"))).mapToDouble(Metrics.Sample::value).sum();
    }

    static long rssKb(long pid) throws java.io.IOException {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("\\D", ""));
            }
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }

    static String jcmd() {
        return Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
    }
}
