package dev.ebpftraffic.testing;

import dev.ebpftraffic.workload.Cgroup2Mount;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Three test workloads: cgroups under a unique test group, named like a systemd service, a Docker
 * container and a Kubernetes pod's container, with the workload names the exporter gives them.
 */
public record TestWorkloads(TestCgroups cgroups, Path service, String serviceName, Path docker, String dockerName,
                            Path pod, String podName) implements AutoCloseable {
    public static TestWorkloads create() throws Exception {
        Cgroup2Mount m = Cgroup2Mount.find();
        Path root = assertInstanceOf(Cgroup2Mount.Found.class, m, "cgroup v2: " + m).mountPoint();
        byte[] r = new byte[4];
        new SecureRandom().nextBytes(r);
        String rnd = HexFormat.of().formatHex(r);
        String ctr = rnd.repeat(8);
        String ctr2 = ("beef" + rnd).repeat(5).substring(0, 40) + rnd.repeat(3);
        String uid = rnd + "-0000-4000-8000-" + rnd + "0000";
        TestCgroups cg = TestCgroups.under(root);
        try {
            String svc = "shop-" + rnd + ".service";
            return new TestWorkloads(cg, cg.create("system.slice/" + svc), svc,
                    cg.create("system.slice/docker-" + ctr + ".scope"), ctr.substring(0, 12),
                    cg.create("kubepods.slice/kubepods-pod" + uid.replace('-', '_') + ".slice/cri-containerd-" + ctr2 + ".scope"),
                    uid + "/" + ctr2.substring(0, 12));
        } catch (Exception e) {
            cg.close();
            throw e;
        }
    }

    /** A test pair of addresses on the veth, IPv4 and IPv6, with static neighbours (no ARP or ND between them). */
    public static void addresses(NetNs net, String a4, String b4, String a6, String b6) {
        net.addPair(a4, b4, 24);
        net.addPair(a6, b6, 64);
        for (String[] n : List.of(new String[] {net.a, b4, net.macB, net.ifA}, new String[] {net.a, b6, net.macB, net.ifA},
                new String[] {net.b, a4, net.macA, net.ifB}, new String[] {net.b, a6, net.macA, net.ifB})) {
            Cmd.run("ip", "-n", n[0], "neigh", "replace", n[1], "lladdr", n[2], "dev", n[3], "nud", "permanent").ok();
        }
    }

    @Override
    public void close() {
        cgroups.close();
    }
}
