package dev.ebpftraffic.app;

import dev.ebpftraffic.live.LiveJson;
import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;
import dev.ebpftraffic.testing.Chromium;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.SteadyUdp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `ebpf-traffic-exporter top` in a real terminal: a tmux pane (its own server socket) whose
 * shell runs top inside the test's namespace, driven with send-keys and read with capture-pane,
 * while two UDP streams cross the veth: one heavy in bytes, one heavy in packets. It checks the
 * IPs and rates, that keys change the sort and the filter, and that q and Ctrl-C give the
 * terminal back exactly (stty settings, main screen, visible cursor).
 */
@KernelTest
@Timeout(120)
class TopTmuxKernelTest {
    /** 1442-byte frames at 20/s: the most bits. */
    static final String BULK_SRC = "10.77.0.1";
    /** 92-byte frames at 100/s: the most packets. */
    static final String CHATTY_SRC = "192.0.2.2";

    @TempDir
    Path dir;

    /** A tmux server of our own with one pane running sh. */
    static final class Tmux implements AutoCloseable {
        final String socket = "ete-top-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);

        Tmux(int width, int height) {
            Chromium.require("/usr/bin/tmux", "tmux");
            Cmd.run(List.of("env", "LANG=C.UTF-8", "tmux", "-u", "-L", socket, "-f", "/dev/null", "new-session", "-d",
                    "-s", "t", "-x", Integer.toString(width), "-y", Integer.toString(height), "sh")).ok();
        }

        Cmd.Result tmux(String... args) {
            List<String> cmd = new java.util.ArrayList<>(List.of("tmux", "-u", "-L", socket));
            cmd.addAll(List.of(args));
            return Cmd.run(cmd);
        }

        void type(String text) {
            tmux("send-keys", "-t", "t", "-l", text).ok();
        }

        void key(String key) {
            tmux("send-keys", "-t", "t", key).ok();
        }

        String screen() {
            return tmux("capture-pane", "-p", "-t", "t").ok().stdout();
        }

        String flags() {
            return tmux("display-message", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}").ok().stdout().strip();
        }

        String await(Predicate<String> condition, long millis, String what) throws InterruptedException {
            long deadline = System.nanoTime() + millis * 1_000_000;
            String s = screen();
            while (!condition.test(s)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timed out waiting for " + what + "; the pane shows:\n" + s);
                }
                Thread.sleep(100);
                s = screen();
            }
            return s;
        }

        @Override
        public void close() {
            String path = tmux("display-message", "-p", "#{socket_path}").stdout().strip();
            tmux("kill-server");
            if (path.endsWith(socket)) {
                try {
                    Files.deleteIfExists(Path.of(path)); // tmux leaves its socket file behind
                } catch (java.io.IOException e) {
                    // harmless
                }
            }
        }
    }

    /** The screen line of the row whose source is src, or null. */
    static String line(String screen, String src) {
        return screen.lines().filter(l -> l.startsWith(src + " ")).findFirst().orElse(null);
    }

    /** The bits/s 2s, 10s, 40s columns of a row line are all non-zero. */
    static boolean ratesShown(String screen, String src) {
        String l = line(screen, src);
        if (l == null) {
            return false;
        }
        String[] f = l.trim().split("\\s+");
        // src dst dir type iface b2 b10 b40 p2 p10 p40 bytes spark
        return f.length >= 12 && !f[5].equals("0") && !f[6].equals("0") && !f[7].equals("0")
                && f[5].endsWith("b") && !f[8].equals("0");
    }

    static int row(String screen, String src) {
        List<String> lines = screen.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(src + " ")) {
                return i;
            }
        }
        return -1;
    }

    /** Keeps what the pane showed, for people: target/live-view/NAME. */
    static void save(String name, String screen) throws java.io.IOException {
        Path out = ExporterProcess.projectRoot().resolve("target/live-view");
        Files.createDirectories(out);
        Files.writeString(out.resolve(name), screen);
    }

    /** Runs top through the shell; writes stty -g before and after and top's exit code to dir. */
    void launch(Tmux t, String ns, String args) {
        Path d = dir;
        t.type("stty -g > " + d.resolve("before") + "; ip netns exec " + ns + " " + ExporterProcess.launcher()
                + " top " + args + "; echo $? > " + d.resolve("exit.tmp") + "; stty -g > " + d.resolve("after")
                + "; mv " + d.resolve("exit.tmp") + " " + d.resolve("exit"));
        t.key("Enter");
    }

    String awaitExit() throws Exception {
        Path exit = dir.resolve("exit");
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (!Files.exists(exit)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("top did not exit");
            }
            Thread.sleep(100);
        }
        String code = Files.readString(exit).strip();
        assertEquals(Files.readString(dir.resolve("before")), Files.readString(dir.resolve("after")),
                "stty settings restored exactly");
        Files.delete(exit);
        return code;
    }

    @Test
    void topShowsTheTalkersSortsFiltersAndGivesTheTerminalBack() throws Exception {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            net.addPair("192.0.2.1", "192.0.2.2", 24);
            net.own(SteadyUdp.start(net.a, BULK_SRC, net.b, "10.77.0.2", 43000, 1400, 20));
            net.own(SteadyUdp.start(net.b, CHATTY_SRC, net.a, "192.0.2.1", 43001, 50, 100));
            Tmux t = net.own(new Tmux(160, 30));
            t.await(s -> s.contains("#") || s.contains("$"), 5000, "the shell prompt");

            // 1. top attaching by itself.
            launch(t, net.b, "--iface " + net.ifB);
            String s = t.await(x -> ratesShown(x, BULK_SRC) && ratesShown(x, CHATTY_SRC), 30_000, "both streams with rates");
            assertEquals("1 0", t.flags(), "alternate screen on, cursor hidden");
            assertTrue(s.contains("attached to " + net.ifB), s);
            assertTrue(s.contains("*b/s 10s"), "sorted by bits/s over 10 s:\n" + s);
            assertTrue(row(s, BULK_SRC) < row(s, CHATTY_SRC), "more bits first:\n" + s);
            String bulk = line(s, BULK_SRC);
            assertTrue(bulk.contains("10.77.0.2") && bulk.contains(" in ") && bulk.contains(" priv ")
                    && bulk.contains(net.ifB), bulk);
            assertTrue(line(s, CHATTY_SRC).contains(" out ") && line(s, CHATTY_SRC).contains(" pub "), s);
            save("top-iface.txt", s);
            assertTrue(s.matches("(?s).*IN +\\d.*OUT +\\d.*"), "totals:\n" + s);

            t.type("p"); // sort by packets/s over 10 s: the chatty stream first
            s = t.await(x -> x.contains("*p/s 10s") && row(x, CHATTY_SRC) >= 0 && row(x, CHATTY_SRC) < row(x, BULK_SRC),
                    5000, "sort by packets/s");
            t.type("/192.0");
            t.await(x -> x.contains("ip filter: 192.0_"), 3000, "the filter being typed");
            t.key("Enter");
            s = t.await(x -> x.contains("ip ~ 192.0") && row(x, CHATTY_SRC) >= 0 && row(x, BULK_SRC) < 0, 5000, "IP filter");
            t.type("c");
            t.await(x -> row(x, BULK_SRC) >= 0, 5000, "filter cleared");
            t.type("q");
            assertEquals("0", awaitExit(), "q quits with 0");
            assertEquals("0 1", t.flags(), "main screen back, cursor visible");
            s = t.screen();
            assertFalse(s.contains("SOURCE"), "the top screen is gone:\n" + s);

            // 2. top reading a running exporter; Ctrl-C.
            ExporterProcess exporter = net.own(ExporterProcess.start(net.b, "top-from",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN));
            exporter.awaitAttached(Duration.ofSeconds(30));
            launch(t, net.b, "--from http://127.0.0.1:" + ExporterProcess.PORT + "/ --sort packets_2s");
            s = t.await(x -> ratesShown(x, BULK_SRC) && ratesShown(x, CHATTY_SRC), 30_000, "rates from the API");
            assertTrue(s.contains("from http://127.0.0.1:" + ExporterProcess.PORT + "/"), s);
            assertTrue(s.contains("*p/s 2s") && row(s, CHATTY_SRC) < row(s, BULK_SRC), s);
            Thread.sleep(3000); // a little history for the sparklines
            save("top-from.txt", t.screen());
            t.type("d"); // direction: inbound only
            t.await(x -> x.contains("dir inbound") && row(x, BULK_SRC) >= 0 && row(x, CHATTY_SRC) < 0, 5000, "direction");
            t.key("C-c");
            assertEquals("130", awaitExit(), "Ctrl-C: SIGINT");
            assertEquals("0 1", t.flags(), "main screen back, cursor visible after Ctrl-C");

            // 3. Errors are one line, before the screen changes.
            launch(t, net.b, "--from http://127.0.0.1:1/");
            assertEquals("1", awaitExit());
            assertTrue(t.screen().contains("ebpf-traffic-exporter top: http://127.0.0.1:1/: connection refused"), t.screen());
        }
    }

    /**
     * An interface named ESC ] 0 ; P W N BEL (an OSC sequence that sets the terminal's title) shows
     * as text: the pane's title stays, the name is on screen as \x1b]0;PWN\x07.
     */
    @Test
    void controlCharactersInAnInterfaceNameAreShownEscaped() throws Exception {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            String evil = "\033]0;PWN\007";
            Cmd.run("ip", "-n", net.b, "link", "set", "dev", net.ifB, "down").ok();
            Cmd.run("ip", "-n", net.b, "link", "set", "dev", net.ifB, "name", evil).ok();
            Cmd.run("ip", "-n", net.b, "link", "set", "dev", evil, "up").ok();
            net.own(SteadyUdp.start(net.a, BULK_SRC, net.b, "10.77.0.2", 43000, 1400, 20));
            Tmux t = net.own(new Tmux(160, 30));
            t.await(s -> s.contains("#") || s.contains("$"), 5000, "the shell prompt");
            String title = t.tmux("display-message", "-p", "-t", "t", "#{pane_title}").ok().stdout().strip();
            assertFalse(title.contains("PWN"), title);

            launch(t, net.b, "--iface all"); // --iface refuses control characters; "all" in b is just this one
            String s = t.await(x -> ratesShown(x, BULK_SRC), 30_000, "the stream on the renamed interface");
            String escaped = "\\x1b]0;PWN\\x07";
            assertTrue(line(s, BULK_SRC).contains(" " + escaped + " "), "the name escaped in its row:\n" + s);
            Thread.sleep(2500); // a few redraws
            assertEquals(title, t.tmux("display-message", "-p", "-t", "t", "#{pane_title}").ok().stdout().strip(),
                    "the pane's title is unchanged");
            t.type("q");
            assertEquals("0", awaitExit(), "q quits with 0");
        }
    }

    /**
     * top --from an exporter that sees the cgroup v2 mount, with steady UDP between sockets of test cgroups
     * (a systemd service in b, a Docker container in a): v switches to the Workloads view, which shows both
     * workloads with rates and the service's peer, / filters by workload, v again goes to the Processes view (off
     * here: --workloads cgroup, so it says so) and once more back to the pairs.
     */
    @Test
    void vSwitchesToTheWorkloadsView() throws Exception {
        try (dev.ebpftraffic.testing.TestWorkloads w = dev.ebpftraffic.testing.TestWorkloads.create(); NetNs net = NetNs.pair()) {
            dev.ebpftraffic.testing.TestWorkloads.addresses(net, BULK_SRC, "10.77.0.2", "fd00:77::1", "fd00:77::2");
            net.own(SteadyUdp.startInGroups(net.a, w.docker(), BULK_SRC, net.b, w.service(), "10.77.0.2", 43000, 1400, 20));
            ExporterProcess exporter = net.own(ExporterProcess.startSeeingCgroups(net.b, "top-workloads",
                    "--iface", net.ifB, "--addr", ExporterProcess.LISTEN, "--workloads", "cgroup"));
            exporter.awaitAttached(Duration.ofSeconds(30));
            Tmux t = net.own(new Tmux(200, 30));
            t.await(s -> s.contains("#") || s.contains("$"), 5000, "the shell prompt");
            launch(t, net.b, "--from http://127.0.0.1:" + ExporterProcess.PORT + "/");
            t.await(x -> ratesShown(x, BULK_SRC) && x.contains("v view"), 30_000, "the pairs view, v in the help line");
            t.type("v");
            String s = t.await(x -> x.contains("top · workloads · from") && x.contains("TOP PEERS")
                    && String.valueOf(line(x, w.serviceName())).contains(BULK_SRC)
                    && String.valueOf(line(x, w.dockerName())).contains("10.77.0.2")
                    && !String.valueOf(line(x, w.serviceName())).trim().split("\\s+")[5].equals("0b")
                    && !String.valueOf(line(x, w.dockerName())).trim().split("\\s+")[5].equals("0b"),
                    30_000, "the Workloads view with both workloads, rates and peers");
            Thread.sleep(3000); // a little history for the sparklines
            s = t.screen();
            String svc = line(s, w.serviceName());
            assertTrue(svc.contains(" systemd ") && svc.contains(" in ") && svc.contains(" priv "), svc);
            assertTrue(line(s, w.dockerName()).contains(" container ") && line(s, w.dockerName()).contains(" out "), s);
            save("top-workloads.txt", s);
            t.type("/shop");
            t.await(x -> x.contains("workload filter: shop_"), 3000, "the workload filter being typed");
            t.key("Enter");
            t.await(x -> x.contains("workload ~ shop") && row(x, w.serviceName()) >= 0 && row(x, w.dockerName()) < 0,
                    5000, "the workload filter");
            t.type("v");
            t.await(x -> x.contains("top · processes") && x.contains("per-process traffic is off"), 5000,
                    "the Processes view, off with --workloads cgroup");
            t.type("v");
            t.await(x -> !x.contains("top · workloads") && !x.contains("top · processes") && x.contains("SOURCE")
                    && ratesShown(x, BULK_SRC), 5000, "back to the pairs");
            t.type("q");
            assertEquals("0", awaitExit(), "q quits with 0");
        }
    }

    /**
     * The v key: top attached by itself, started with nsenter (so it sees the cgroup v2 mount and counts
     * per process), switches through the Workloads view to the Processes view, where this JVM's UDP streams show under its pid and
     * command name, and back to the pairs; q quits from the Processes view with the terminal restored.
     */
    @Test
    void vSwitchesToTheProcessesViewAndBack() throws Exception {
        try (NetNs net = NetNs.pair()) {
            net.addPair("10.77.0.1", "10.77.0.2", 24);
            net.own(SteadyUdp.start(net.a, BULK_SRC, net.b, "10.77.0.2", 43000, 1400, 20));
            Tmux t = net.own(new Tmux(160, 30));
            t.await(s -> s.contains("#") || s.contains("$"), 5000, "the shell prompt");
            Path d = dir;
            t.type("stty -g > " + d.resolve("before") + "; nsenter --net=/var/run/netns/" + net.b + " " + ExporterProcess.launcher()
                    + " top --iface " + net.ifB + "; echo $? > " + d.resolve("exit.tmp") + "; stty -g > " + d.resolve("after")
                    + "; mv " + d.resolve("exit.tmp") + " " + d.resolve("exit"));
            t.key("Enter");
            t.await(x -> ratesShown(x, BULK_SRC), 30_000, "the pairs view with rates");
            t.type("v");
            t.await(x -> x.contains("top · workloads"), 5000, "the Workloads view");
            t.type("v");
            String me = Long.toString(ProcessHandle.current().pid());
            String comm = Files.readString(Path.of("/proc/self/comm")).strip();
            String s = t.await(x -> x.contains("top · processes") && x.contains("PID") && x.contains("COMMAND")
                    && x.lines().anyMatch(l -> l.trim().startsWith(me + " " + comm + " ")), 20_000, "this JVM in the Processes view");
            assertFalse(s.contains("SOURCE"), "the pairs table is gone:\n" + s);
            save("top-processes.txt", s);
            t.type("/" + me);
            t.await(x -> x.contains("filter: " + me + "_"), 3000, "the filter being typed");
            t.key("Enter");
            t.await(x -> x.contains("filter ~ " + me) && x.lines().filter(l -> l.matches("\\s*\\d+ .*")).allMatch(
                    l -> l.trim().startsWith(me + " ")), 5000, "only this JVM's rows");
            t.type("v");
            t.await(x -> x.contains("SOURCE") && x.contains("DESTINATION"), 5000, "back to the pairs view");
            t.type("v");
            t.await(x -> x.contains("top · workloads"), 5000, "the Workloads view again");
            t.type("v");
            t.await(x -> x.contains("top · processes"), 5000, "the Processes view again");
            t.type("q");
            assertEquals("0", awaitExit(), "q quits with 0 from the Processes view");
            assertEquals("0 1", t.flags(), "main screen back, cursor visible");
        }
    }

    /**
     * top --from against a server on 127.0.0.1 that answers well once, then with JSON nested 200,000
     * deep, then with a 600 MB body, then trickles: each bad answer is an error on the status line
     * while top keeps running, q quits during the trickle, and the terminal comes back exactly.
     */
    @Test
    void topFromABadServerKeepsRunningQuitsOnQAndGivesTheTerminalBack() throws Exception {
        Snapshot.Rates r = new Snapshot.Rates(new double[] {8000, 4000, 1000}, new double[] {10, 5, 1.25});
        byte[] good = LiveJson.write(new Snapshot(1_700_000_000_000L, 42, true, Query.defaults(), 1,
                List.of(new Snapshot.Row("10.0.0.1", "203.0.113.9", "outbound", "public", "eth0", false, r, 123, 4,
                        new float[] {8000, 0})),
                List.of(new Snapshot.Total("inbound", r, 1, 1), new Snapshot.Total("outbound", r, 123, 4)), List.of("eth0")))
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] deep = ("[".repeat(200_000) + "]".repeat(200_000)).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
        try (TopBadServerTest.BadServer server = new TopBadServerTest.BadServer(out -> {
            int i = n.getAndIncrement();
            if (i == 0) {
                TopBadServerTest.head(out, 200, good.length);
                out.write(good);
            } else if (i == 1) {
                TopBadServerTest.head(out, 200, deep.length);
                out.write(deep);
            } else if (i == 2) {
                TopBadServerTest.head(out, 200, 600L << 20);
                byte[] chunk = new byte[1 << 20];
                for (int k = 0; k < 600; k++) {
                    out.write(chunk);
                }
            } else {
                TopBadServerTest.head(out, 200, 1 << 20);
                for (int k = 0; k < 600; k++) {
                    out.write(' ');
                    out.flush();
                    Thread.sleep(100);
                }
            }
        }); Tmux t = new Tmux(160, 30)) {
            t.await(x -> x.contains("#") || x.contains("$"), 5000, "the shell prompt");
            Path d = dir;
            t.type("stty -g > " + d.resolve("before") + "; " + ExporterProcess.launcher() + " top --from " + server.url()
                    + "; echo $? > " + d.resolve("exit.tmp") + "; stty -g > " + d.resolve("after")
                    + "; mv " + d.resolve("exit.tmp") + " " + d.resolve("exit"));
            t.key("Enter");
            t.await(x -> x.contains("nested deeper than 32 levels"), 20_000, "the deep JSON refused on the status line");
            t.await(x -> x.contains("larger than 16 MiB"), 20_000, "the 600 MB answer cut off");
            t.await(x -> n.get() >= 4, 20_000, "the trickle started");
            Thread.sleep(500);
            long t0 = System.nanoTime();
            t.type("q");
            assertEquals("0", awaitExit(), "q quits with 0 while the server trickles");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 2000, "q took " + ms + " ms");
            assertEquals("0 1", t.flags(), "main screen back, cursor visible");
        }
    }
}
