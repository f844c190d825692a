package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The installed launcher started as the systemd unit starts it, but with setpriv: an unprivileged
 * uid (nobody), the unit's AmbientCapabilities as inheritable, ambient and bounding set, and
 * no_new_privs; in a namespace with a veth pair. It must attach (TCX and legacy) and count exactly;
 * and with any one of the three capabilities missing it must refuse to start and say which one.
 */
@KernelTest
class LeastPrivilegeKernelTest {
    static final int NOBODY = 65534;
    static final int PORT = 9465;
    static final String ADDR = "127.0.0.1:" + PORT;
    static final String EXP_V4 = "10.77.0.1";
    static final String PEER_V4 = "10.77.0.2";

    /** "CAP_BPF CAP_NET_ADMIN CAP_PERFMON" -> "-all,+bpf,+net_admin,+perfmon" */
    static String setprivCaps(List<String> caps) {
        StringBuilder sb = new StringBuilder("-all");
        for (String c : caps) {
            sb.append(",+").append(c.substring(4).toLowerCase(Locale.ROOT));
        }
        return sb.toString();
    }

    static List<String> setpriv(List<String> caps) {
        String setpriv = Cmd.require("setpriv", "util-linux");
        String c = setprivCaps(caps);
        return List.of(setpriv, "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--no-new-privs",
                "--inh-caps=" + c, "--ambient-caps=" + c, "--bounding-set=" + c, "--");
    }

    static long mask(List<String> caps) {
        long m = 0;
        for (String c : caps) {
            m |= 1L << switch (c) {
                case "CAP_NET_ADMIN" -> 12;
                case "CAP_PERFMON" -> 38;
                case "CAP_BPF" -> 39;
                default -> throw new AssertionError("unexpected capability in the unit: " + c);
            };
        }
        return m;
    }

    static List<String> unitCaps(Install in) {
        Map<String, String> s = in.service();
        assertEquals(s.get("AmbientCapabilities"), s.get("CapabilityBoundingSet"));
        assertEquals("yes", s.get("NoNewPrivileges"));
        return List.of(s.get("AmbientCapabilities").split(" "));
    }

    @Test
    void attachesAndCountsWithOnlyTheUnitsCapabilities() throws IOException {
        Cmd.require("curl", "curl");
        try (Install in = new Install()) {
            List<String> caps = unitCaps(in);
            assertEquals(List.of("CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"), caps);
            for (String mode : new String[]{"tcx", "legacy"}) {
                // The exporter's side is a (ifA), the peer b.
                try (NetNs net = NetNs.pair()) {
                    net.addPair(EXP_V4, PEER_V4, 24);
                    ExporterProcess exp = net.own(ExporterProcess.start(in.launcher(), net.a, PORT, Map.of(),
                            "least-privilege-" + mode, setpriv(caps), "--iface", net.ifA, "--addr", ADDR, "--attach-mode", mode));
                    exp.awaitReady("http://" + ADDR + "/-/ready", Duration.ofSeconds(20));

                    String status = Files.readString(Path.of("/proc/" + exp.pid() + "/status"));
                    assertTrue(status.contains("\nUid:\t65534\t65534\t65534\t65534\n"), status);
                    assertTrue(status.contains("\nGid:\t65534\t65534\t65534\t65534\n"), status);
                    assertTrue(status.contains("\nNoNewPrivs:\t1\n"), status);
                    String hex = String.format("%016x", mask(caps));
                    for (String set : new String[]{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
                        assertTrue(status.contains("\n" + set + ":\t" + hex + "\n"), set + " in " + status);
                    }

                    net.exec(net.b, "ping", "-c", "4", "-i", "0.2", "-W", "2", EXP_V4).ok();
                    net.exec(net.a, "curl", "-sS", "http://" + ADDR + "/metrics").ok(); // the first shows new series at 0
                    String scrape = net.exec(net.a, "curl", "-sS", "http://" + ADDR + "/metrics").ok().stdout();
                    String in4 = "{direction=\"inbound\",dst_ip=\"10.77.0.1\",iface=\"" + net.ifA
                            + "\",ip_type=\"private\",src_ip=\"10.77.0.2\"}";
                    String out4 = "{direction=\"outbound\",dst_ip=\"10.77.0.2\",iface=\"" + net.ifA
                            + "\",ip_type=\"private\",src_ip=\"10.77.0.1\"}";
                    assertTrue(scrape.contains("network_traffic_packets_total" + in4 + " 4\n"), scrape);
                    assertTrue(scrape.contains("network_traffic_bytes_total" + in4 + " 392\n"), scrape);
                    assertTrue(scrape.contains("network_traffic_packets_total" + out4 + " 4\n"), scrape);
                    assertTrue(scrape.contains("network_traffic_bytes_total" + out4 + " 392\n"), scrape);
                    assertTrue(scrape.contains("ebpf_traffic_exporter_attached{hook=\"ingress\",iface=\"" + net.ifA
                            + "\",mode=\"" + mode + "\"} 1.0\n"), scrape);

                    exp.stop(); // SIGTERM: the exporter detaches and logs it (to stderr; stdout stays empty)
                    assertEquals("", exp.stdout());
                    assertTrue(exp.stderr().contains("msg=\"detached from " + net.ifA + "\""), exp.stderr());
                    // Nothing of ours is left on the interface: no TC filter, no clsact qdisc we made.
                    assertEquals("", net.exec(net.a, "tc", "filter", "show", "dev", net.ifA, "ingress").ok().stdout());
                    assertTrue(!net.exec(net.a, "tc", "qdisc", "show", "dev", net.ifA).ok().stdout().contains("clsact"));
                }
            }
        }
    }

    @Test
    void eachMissingCapabilityIsNamed() {
        try (Install in = new Install()) {
            List<String> all = unitCaps(in);
            for (String drop : all) {
                List<String> caps = new ArrayList<>(all);
                caps.remove(drop);
                try (NetNs net = NetNs.pair()) {
                    net.addPair(EXP_V4, PEER_V4, 24);
                    ExporterProcess exp = net.own(ExporterProcess.start(in.launcher(), net.a, PORT, Map.of(),
                            "least-privilege-without-" + drop, setpriv(caps), "--iface", net.ifA, "--addr", ADDR));
                    int code = exp.waitForExit(Duration.ofSeconds(30));
                    assertEquals(1, code, "without " + drop + ": " + exp.stderr());
                    assertEquals("", exp.stdout());
                    String last = exp.stderr().strip().lines().reduce((a, b) -> b).orElse("");
                    assertEquals(1, exp.stderr().strip().lines().count(),
                            "without " + drop + ": one line, no libbpf warnings or verifier log before it:\n" + exp.stderr());
                    assertTrue(last.endsWith(" level=error msg=\"permission denied loading the BPF program: " + drop
                            + " is missing; run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON\""), last);
                    assertEquals("", net.exec(net.a, "tc", "filter", "show", "dev", net.ifA, "ingress").ok().stdout());
                }
            }
        }
    }
}
