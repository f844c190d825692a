package dev.ebpftraffic.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.HttpGet;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.Metrics;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import dev.ebpftraffic.testing.TcHooks;
import dev.ebpftraffic.testing.TestCgroups;
import dev.ebpftraffic.workload.Cgroup2Mount;
import dev.ebpftraffic.testing.Traffic;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The image, built from deploy/docker/Dockerfile's final stage by scripts/podman-image.sh (a base
 * of Debian packages from mmdebstrap, a jlinked Java runtime), run under Debian's podman with runc
 * as the DaemonSet in deploy/kubernetes runs it: the pod's settings are read from the manifest
 * (capabilities, read-only root, no privilege escalation, root uid, host network, the /tmp volume,
 * the hostPath bpffs and state directory on test-owned stand-ins,
 * the memory limit, the args, the grace period), not repeated here.
 *
 * <p>Host network: podman is started inside the test namespace b with nsenter (network namespace
 * only), so `--network host`, what hostNetwork: true means (the container shares the network
 * namespace of whatever starts it, on a node the node's), gives the container namespace b and
 * never this machine's network. `ip netns exec` would not do: it also remounts /sys for the
 * namespace, which hides the cgroup mounts runc needs. `--network ns:/run/netns/b` would join the
 * same namespace but is podman's "other namespace" mode, not the host mode the DaemonSet asks for.
 *
 * <p>Seccomp: the manifest asks for the runtime's default profile. Debian 12's (containers-common
 * 0.50) allows bpf() and perf_event_open() only with CAP_SYS_ADMIN; newer runtime defaults (Docker,
 * containerd, later containers-common) allow bpf() with CAP_BPF and perf_event_open() with
 * CAP_PERFMON. The test runs with this runtime's default plus exactly those two rules, and checks
 * that the unmodified default indeed stops the exporter with its permission message (the README's
 * advice for such runtimes).
 */
@KernelTest
class ContainerKernelTest {
    static final Path ROOT = ExporterProcess.projectRoot();
    static final String A4 = "10.78.0.1";
    static final String B4 = "10.78.0.2";
    static final String A6 = "fd00:78::1";
    static final String B6 = "fd00:78::2";
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void theImageRunsWithTheDaemonSetsPrivilegesOnlyAndCountsExactly() throws IOException {
        String podman = Cmd.require("podman", "podman");
        Cmd.require("runc", "runc");
        Cmd.require("mmdebstrap", "mmdebstrap");
        String nsenter = Cmd.require("nsenter", "util-linux");

        DaemonSet ds = (DaemonSet) K8sObjects.parse(Files.readString(ROOT.resolve("deploy/kubernetes/ebpf-traffic-exporter.yaml")))
                .stream().filter(d -> d.kind().equals("DaemonSet")).findFirst().orElseThrow().typed();
        PodSpec pod = ds.getSpec().getTemplate().getSpec();
        Container c = pod.getContainers().getFirst();
        SecurityContext sc = c.getSecurityContext();
        assertTrue(pod.getHostNetwork());
        assertFalse(sc.getPrivileged());
        assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
        List<String> caps = sc.getCapabilities().getAdd();
        assertFalse(caps.isEmpty());

        byte[] rnd = new byte[4];
        new SecureRandom().nextBytes(rnd);
        String hex = HexFormat.of().formatHex(rnd);
        String image = "localhost/ete-test-" + hex + ":test";
        String name = "ete-test-" + hex;
        int port = c.getPorts().getFirst().getContainerPort();

        try (NetNs net = NetNs.pair()) {
            // Removed last (owned resources close in reverse): the image, after every container.
            net.own(() -> Cmd.run(podman, "rmi", "-f", image));
            long t0 = System.nanoTime();
            Cmd.Result build = Cmd.run(ROOT, Duration.ofMinutes(10), List.of(ROOT.resolve("scripts/podman-image.sh").toString(), image));
            assertEquals(0, build.exitCode(), build.toString());
            long size = Long.parseLong(build.stdout().strip());
            System.err.printf("ContainerKernelTest: built %s in %d s, %.1f MB%n", image, (System.nanoTime() - t0) / 1_000_000_000L, size / 1e6);
            assertTrue(size > 20_000_000 && size < 100_000_000, "image size " + size);

            net.addPair(A4, B4, 24);
            net.addPair(A6, B6, 64);
            Path config = tmp.resolve("config.yml");
            // Loaded through SnakeYAML in the jlinked runtime (no java.desktop); a range no test traffic uses.
            Files.writeString(config, "groups:\n  docs:\n    cidrs: [192.0.2.0/24]\n");
            Path seccomp = seccompWithBpfCaps(podman);
            // The manifest's hostPath volumes, on directories of the test's own: a bpffs mounted for
            // this test (never the host's /sys/fs/bpf), unmounted at the end, which drops any pin left.
            Path bpffs = Files.createDirectory(tmp.resolve("bpffs"));
            Cmd.run("mount", "-t", "bpf", "bpf", bpffs.toString()).ok();
            net.own(() -> Cmd.run("umount", bpffs.toString()));
            // The node's cgroup hierarchy is this machine's, read only (per-workload traffic of the test's own cgroup).
            Map<String, Path> hostPaths = Map.of("/sys/fs/bpf", bpffs,
                    "/var/lib/ebpf-traffic-exporter", Files.createDirectory(tmp.resolve("state")),
                    "/sys/fs/cgroup", Path.of("/sys/fs/cgroup"));
            Path cgroupRoot = ((Cgroup2Mount.Found) Cgroup2Mount.find()).mountPoint();
            Path origin = ownGroup(cgroupRoot);
            TestCgroups cgroups = net.own(TestCgroups.under(cgroupRoot));
            String service = "ete-ctr-" + hex + ".service";
            Path group = cgroups.create("system.slice/" + service);

            // With the runtime's default seccomp profile as it is, bpf() fails for want of CAP_SYS_ADMIN.
            String refused = name + "-default-seccomp";
            net.own(() -> Cmd.run(podman, "rm", "-f", refused));
            Cmd.Result r = Cmd.run(Duration.ofSeconds(90), runCommand(nsenter, podman, net, pod, c, refused, image, config, hostPaths, null, false));
            assertEquals(1, r.exitCode(), r.toString());
            assertTrue(r.stderr().contains("permission denied loading the BPF program"), r.toString());
            TcHooks.assertNothingAttached(net.b, net.ifB);

            net.own(() -> Cmd.run(podman, "rm", "-f", name));
            Cmd.run(Duration.ofSeconds(60), runCommand(nsenter, podman, net, pod, c, name, image, config, hostPaths, seccomp, true)).ok();
            awaitReady(podman, net, name, port);

            // The process: root, with exactly the manifest's capabilities in every set it can use,
            // no_new_privs, a seccomp filter, in namespace b, on a read-only root filesystem.
            String pid = Cmd.run(podman, "inspect", "--format", "{{.State.Pid}}", name).ok().stdout().strip();
            String status = Files.readString(Path.of("/proc", pid, "status"));
            String mask = String.format("%016x", mask(caps));
            for (String set : List.of("CapPrm", "CapEff", "CapBnd")) {
                assertTrue(status.contains("\n" + set + ":\t" + mask + "\n"), set + " in " + status);
            }
            assertTrue(status.contains("\nCapInh:\t0000000000000000\n") && status.contains("\nCapAmb:\t0000000000000000\n"), status);
            assertTrue(status.contains("\nUid:\t0\t0\t0\t0\n"), status);
            assertTrue(status.contains("\nNoNewPrivs:\t1\n"), status);
            assertTrue(status.contains("\nSeccomp:\t2\n"), status);
            assertEquals(Files.getAttribute(Path.of("/run/netns", net.b), "unix:ino"),
                    Files.getAttribute(Path.of("/proc", pid, "ns/net"), "unix:ino"), "the container's network namespace is b");
            String rootMount = Files.readAllLines(Path.of("/proc", pid, "mountinfo")).stream()
                    .filter(l -> l.split(" ")[4].equals("/")).findFirst().orElseThrow();
            assertTrue(rootMount.split(" ")[5].startsWith("ro,"), rootMount);
            Cmd.Result write = Cmd.run(podman, "exec", name, "/bin/sh", "-c", ": > /written");
            assertTrue(write.exitCode() != 0 && write.stderr().contains("Read-only file system"), write.toString());

            Traffic t = new Traffic(net);
            t.udp(true, A4, B4, 7101, Map.of(100, 5, 1200, 3));
            t.udp(false, B4, A4, 7102, Map.of(64, 4));
            t.udp(true, A6, B6, 7103, Map.of(300, 2));
            t.ping(new Traffic.Ping(true, A4, B4, 3));
            // The first scrape that exports a series shows it at 0 (so increase() counts it whole);
            // the counts are read from the second.
            Metrics.scrape(net.b, "127.0.0.1", port);
            Metrics m = Metrics.scrape(net.b, "127.0.0.1", port);
            t.assertExact(m, net.ifB);
            assertTrue(m.text().contains("ebpf_traffic_exporter_attached{hook=\"ingress\",iface=\"" + net.ifB + "\",mode=\"tcx\"} 1.0\n"), m.text());

            // Per-workload traffic through the DaemonSet's cgroup mount: two UDP sockets of a test cgroup
            // named like a systemd service, exact packets and IP bytes (20 + 8 + payload) each way.
            assertTrue(Cmd.run(podman, "logs", name).ok().stderr().contains("per-workload traffic: attached to the cgroup v2 root"),
                    Cmd.run(podman, "logs", name).stderr());
            long[] sent = workloadExchange(net, group, origin);
            Metrics.scrape(net.b, "127.0.0.1", port);
            Metrics w = Metrics.scrape(net.b, "127.0.0.1", port);
            for (String dir : List.of("outbound", "inbound")) {
                assertEquals(sent[0], w.sum("network_workload_traffic_packets_total",
                        s -> service.equals(s.label("workload")) && dir.equals(s.label("direction"))), dir + " packets\n" + w.text());
                assertEquals(sent[1], w.sum("network_workload_traffic_bytes_total",
                        s -> service.equals(s.label("workload")) && dir.equals(s.label("direction"))), dir + " bytes\n" + w.text());
            }
            assertEquals(200, HttpGet.get(net.b, "127.0.0.1", port, "/-/healthy").status());
            assertEquals(200, HttpGet.get(net.b, "127.0.0.1", port, "/-/ready").status());

            // Stopped as the kubelet stops it (SIGTERM, then the grace period): the TCX links stay attached
            // and pinned with the maps for the next pod; `uninstall` in the same image removes them.
            long grace = pod.getTerminationGracePeriodSeconds();
            Cmd.run(Duration.ofSeconds(grace + 30), List.of(podman, "stop", "-t", Long.toString(grace), name)).ok();
            String state = Cmd.run(podman, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).ok().stdout().strip();
            Cmd.Result logs = Cmd.run(podman, "logs", name).ok();
            assertTrue(logs.stderr().contains("left attached (pinned) to " + net.ifB), logs.toString());
            // 143: the JVM's status after a SIGTERM whose shutdown ran (0 if the exporter ever maps it so);
            // 137 would mean it outlived the grace period and was killed.
            assertTrue(state.equals("exited 143") || state.equals("exited 0"), state + "\n" + logs);
            assertEquals(1, TcHooks.tcxPrograms(net.b, net.ifB, true).size(), "pinned TCX ingress after the stop");
            assertTrue(Files.exists(bpffs.resolve("ebpf-traffic-exporter/flows4")), "flows4 pinned");
            assertTrue(Files.exists(bpffs.resolve("ebpf-traffic-exporter/links/cgroup_ingress")), "cgroup link pinned");
            List<String> uninstall = new ArrayList<>(runCommand(nsenter, podman, net, pod, c, name + "-uninstall", image, config,
                    hostPaths, seccomp, false));
            List<String> persist = c.getArgs().stream().filter(a -> a.startsWith("--bpf.pin-path=") || a.startsWith("--state.file=")).toList();
            uninstall.subList(uninstall.indexOf(image) + 1, uninstall.size()).clear();
            uninstall.add("uninstall");
            uninstall.addAll(persist);
            Cmd.Result u = Cmd.run(Duration.ofSeconds(60), uninstall);
            assertEquals(0, u.exitCode(), u.toString());
            assertTrue(u.stdout().contains("removed /sys/fs/bpf/ebpf-traffic-exporter/flows4"), u.toString());
            assertTrue(u.stdout().contains("removed /sys/fs/bpf/ebpf-traffic-exporter/links/cgroup_egress"), u.toString());
            TcHooks.assertNothingAttached(net.b, net.ifB);
            try (var left = Files.list(bpffs)) {
                assertEquals(List.of(), left.filter(p -> !p.getFileName().toString().endsWith(".debug")).toList(), "left pinned");
            }

            Cmd.run(podman, "rm", name).ok();
            Cmd.run(podman, "rmi", image).ok();
            assertEquals(1, Cmd.run(podman, "container", "exists", name).exitCode());
            assertEquals(1, Cmd.run(podman, "image", "exists", image).exitCode());
        }
    }

    private static Path ownGroup(Path mount) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
            if (line.startsWith("0::/")) {
                return mount.resolve(line.substring(4));
            }
        }
        throw new IllegalStateException("no cgroup v2 line in /proc/self/cgroup");
    }

    /**
     * UDP between a socket in a and one in b, both made while this JVM sits in group: 5 datagrams of
     * 100 bytes a to b, 3 of 300 bytes b to a. Returns {packets, IP bytes} the group sent (and received).
     */
    private static long[] workloadExchange(NetNs net, Path group, Path origin) throws IOException {
        java.nio.channels.DatagramChannel sa;
        java.nio.channels.DatagramChannel sb;
        TestCgroups.move(ProcessHandle.current().pid(), group);
        try {
            sa = Setns.call(net.a, () -> java.nio.channels.DatagramChannel.open(java.net.StandardProtocolFamily.INET)
                    .bind(new java.net.InetSocketAddress(NetNs.parse(A4), 0)));
            sb = Setns.call(net.b, () -> java.nio.channels.DatagramChannel.open(java.net.StandardProtocolFamily.INET)
                    .bind(new java.net.InetSocketAddress(NetNs.parse(B4), 0)));
        } finally {
            TestCgroups.move(ProcessHandle.current().pid(), origin);
        }
        try (sa; sb) {
            sa.connect(sb.getLocalAddress());
            sb.connect(sa.getLocalAddress());
            long packets = 0;
            long bytes = 0;
            for (int[] x : new int[][] {{5, 100}, {3, 300}}) {
                java.nio.channels.DatagramChannel from = x[1] == 100 ? sa : sb;
                java.nio.channels.DatagramChannel to = x[1] == 100 ? sb : sa;
                for (int i = 0; i < x[0]; i++) {
                    from.write(java.nio.ByteBuffer.allocate(x[1]));
                    java.nio.ByteBuffer got = java.nio.ByteBuffer.allocate(2000);
                    to.receive(got);
                    assertEquals(x[1], got.position());
                    packets++;
                    bytes += 20 + 8 + x[1];
                }
            }
            return new long[] {packets, bytes};
        }
    }

    /**
     * podman run for the manifest's pod: started in namespace b, so that host networking is b's.
     * seccomp null: the runtime's default profile as it is.
     */
    static List<String> runCommand(String nsenter, String podman, NetNs net, PodSpec pod, Container c, String name,
                                   String image, Path config, Map<String, Path> hostPaths, Path seccomp, boolean detach)
            throws IOException {
        SecurityContext sc = c.getSecurityContext();
        List<String> cmd = new ArrayList<>(List.of(nsenter, "--net=/run/netns/" + net.b, podman, "run", "--name", name,
                // crun refuses the hybrid cgroup layout of the CI machines.
                "--runtime", "runc",
                "--network", pod.getHostNetwork() ? "host" : "none",
                "--user", sc.getRunAsUser() + ":0",
                "--cap-drop", String.join(",", sc.getCapabilities().getDrop())));
        for (String cap : sc.getCapabilities().getAdd()) {
            cmd.addAll(List.of("--cap-add", cap));
        }
        if (sc.getReadOnlyRootFilesystem()) {
            // Kubernetes mounts no tmpfs of its own on a read-only root; podman would (/tmp, /run, /var/tmp).
            cmd.addAll(List.of("--read-only", "--read-only-tmpfs=false"));
        }
        if (!sc.getAllowPrivilegeEscalation()) {
            cmd.addAll(List.of("--security-opt", "no-new-privileges"));
        }
        assertEquals("RuntimeDefault", sc.getSeccompProfile().getType());
        if (seccomp != null) {
            cmd.addAll(List.of("--security-opt", "seccomp=" + seccomp));
        }
        for (VolumeMount vm : c.getVolumeMounts()) {
            Volume v = pod.getVolumes().stream().filter(x -> x.getName().equals(vm.getName())).findFirst().orElseThrow();
            if (v.getHostPath() != null) {
                Path host = hostPaths.get(v.getHostPath().getPath());
                assertTrue(host != null, "no test directory for the hostPath volume " + v);
                cmd.addAll(List.of("-v", host + ":" + vm.getMountPath() + (Boolean.TRUE.equals(vm.getReadOnly()) ? ":ro" : "")));
                continue;
            }
            assertTrue(v.getEmptyDir() != null, "only emptyDir and hostPath volumes are expected: " + v);
            long bytes = v.getEmptyDir().getSizeLimit().getNumericalAmount().longValueExact();
            cmd.addAll(List.of("--tmpfs", vm.getMountPath() + ":rw,size=" + bytes));
        }
        cmd.addAll(List.of("--memory", Long.toString(c.getResources().getLimits().get("memory").getNumericalAmount().longValueExact())));
        // podman's default limits (nofile 1048576) exceed the hard limits of these machines, which a
        // runtime cannot raise; give the container this process's (nproc at most podman's 32768).
        cmd.addAll(List.of("--ulimit", "nofile=" + hardLimit("Max open files", Long.MAX_VALUE),
                "--ulimit", "nproc=" + hardLimit("Max processes", 32768)));
        cmd.addAll(List.of("-v", config + ":/etc/ebpf-traffic-exporter/config.yml:ro"));
        cmd.add(detach ? "-d" : "--rm");
        cmd.add(image);
        boolean iface = false;
        for (String a : c.getArgs()) {
            if (a.startsWith("--iface=")) {
                a = "--iface=" + net.ifB;
                iface = true;
            }
            if (a.startsWith("--kubernetes=")) {
                // No API server runs here and the container is not in a pod: the names are tested
                // against the client library's mock server (KubernetesNamesKernelTest), and the image's
                // runtime has the client's modules (DeployArtifactsTest's RuntimeCheck).
                a = "--kubernetes=off";
            }
            cmd.add(a);
        }
        assertTrue(iface, c.getArgs().toString());
        cmd.add("--config.file=/etc/ebpf-traffic-exporter/config.yml");
        return cmd;
    }

    /** "soft:hard" both set to min(this process's hard limit, cap). */
    static String hardLimit(String name, long cap) throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/limits"))) {
            if (l.startsWith(name + " ")) {
                String hard = l.substring(name.length()).strip().split("\\s+")[1];
                long v = hard.equals("unlimited") ? cap : Math.min(cap, Long.parseLong(hard));
                return v + ":" + v;
            }
        }
        throw new AssertionError("no " + name + " in /proc/self/limits");
    }

    static long mask(List<String> caps) {
        long m = 0;
        for (String c : caps) {
            m |= 1L << switch (c) {
                case "NET_ADMIN" -> 12;
                case "PERFMON" -> 38;
                case "BPF" -> 39;
                default -> throw new AssertionError("unexpected capability in the DaemonSet: " + c);
            };
        }
        return m;
    }

    /**
     * The runtime's default seccomp profile, with bpf() also allowed under CAP_BPF and
     * perf_event_open() under CAP_PERFMON, as newer runtimes' defaults do. Everything else as it is.
     */
    Path seccompWithBpfCaps(String podman) throws IOException {
        String path = Cmd.run(podman, "info", "--format", "{{.Host.Security.SECCOMPProfilePath}}").ok().stdout().strip();
        ObjectNode profile = (ObjectNode) JSON.readTree(Path.of(path).toFile());
        ArrayNode syscalls = (ArrayNode) profile.get("syscalls");
        Map<String, String> byCap = Map.of("bpf", "CAP_BPF", "perf_event_open", "CAP_PERFMON");
        int found = 0;
        for (JsonNode rule : syscalls) {
            ArrayNode names = (ArrayNode) rule.get("names");
            for (int i = names.size() - 1; i >= 0; i--) {
                if (byCap.containsKey(names.get(i).asText())) {
                    names.remove(i);
                    found++;
                }
            }
        }
        assertTrue(found > 0, "the default profile names neither bpf nor perf_event_open: " + path);
        for (Map.Entry<String, String> e : byCap.entrySet()) {
            for (String cap : List.of("CAP_SYS_ADMIN", e.getValue())) {
                ObjectNode allow = syscalls.addObject();
                allow.putArray("names").add(e.getKey());
                allow.put("action", "SCMP_ACT_ALLOW");
                allow.putObject("includes").putArray("caps").add(cap);
            }
            // Without either capability: EPERM, as the default profile answers.
            ObjectNode deny = syscalls.addObject();
            deny.putArray("names").add(e.getKey());
            deny.put("action", "SCMP_ACT_ERRNO");
            deny.put("errnoRet", 1);
            deny.putObject("excludes").putArray("caps").add("CAP_SYS_ADMIN").add(e.getValue());
        }
        Path out = tmp.resolve("seccomp.json");
        JSON.writeValue(out.toFile(), profile);
        return out;
    }

    /** Waits for /-/ready (200) in namespace b; fails at once with the logs if the container exits. */
    static void awaitReady(String podman, NetNs net, String name, int port) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            String st = Cmd.run(podman, "inspect", "--format", "{{.State.Status}}", name).ok().stdout().strip();
            if (!st.equals("running")) {
                throw new AssertionError("container " + name + " is " + st + ": " + Cmd.run(podman, "logs", name));
            }
            try {
                HttpGet.Response r = HttpGet.get(net.b, "127.0.0.1", port, "/-/ready");
                if (r.status() == 200) {
                    return;
                }
                last = r.status() + " " + r.body();
            } catch (RuntimeException e) {
                last = e.toString();
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("not ready within 60 s (" + last + "): " + Cmd.run(podman, "logs", name));
    }
}
