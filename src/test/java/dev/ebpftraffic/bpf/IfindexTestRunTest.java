package dev.ebpftraffic.bpf;

import dev.ebpftraffic.bpf.ProgTestRun.Skb;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowValue;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.KernelStat;
import dev.ebpftraffic.flow.StatKey;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static dev.ebpftraffic.flow.Direction.INBOUND;
import static dev.ebpftraffic.flow.Direction.OUTBOUND;
import static dev.ebpftraffic.testing.Frames.ethernet;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ifindex in flow and stat keys is skb->ifindex (skb->dev->ifindex). A SCHED_CLS test run puts the
 * skb on the calling thread's netns loopback, or on the device the ctx's ifindex names when it is > 1.
 * Here a thread enters a network namespace this test creates (setns affects only that thread), which
 * holds veth devices, and runs the programs with and without that ifindex in the ctx.
 */
@KernelTest
class IfindexTestRunTest {
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY = 0;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle OPEN = LINKER.downcallHandle(LINKER.defaultLookup().find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETNS = LINKER.downcallHandle(LINKER.defaultLookup().find("setns").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    static void ip(String... args) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "ip " + String.join(" ", args) + " hangs");
        assertEquals(0, p.exitValue(), () -> "ip " + String.join(" ", args) + ": " + out);
    }

    /** Moves the calling thread (only) into the named network namespace. */
    static void enterNetns(String name) throws Throwable {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            fd = (int) OPEN.invokeExact(arena.allocateFrom("/run/netns/" + name), O_RDONLY);
        }
        assertTrue(fd >= 0, "cannot open /run/netns/" + name);
        try {
            assertEquals(0, (int) SETNS.invokeExact(fd, CLONE_NEWNET), "setns");
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void keysCarryTheIfindexOfTheTestRunDevice() throws Throwable {
        String ns = "trun-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xffffff));
        ip("netns", "add", ns);
        try {
            // Two veth pairs inside the namespace (no dummy module here), so dm2 has an ifindex well above 1.
            ip("-n", ns, "link", "add", "dm0", "type", "veth", "peer", "name", "dm1");
            ip("-n", ns, "link", "add", "dm2", "type", "veth", "peer", "name", "dm3");
            byte[] f = ethernet().ipv4("192.0.2.1", "198.51.100.2").udp(1, 2).payload(9).build();
            byte[] lldp = ethernet().lldp().build();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread t = Thread.ofPlatform().name("netns-" + ns).start(() -> {
                try (ProgTestRun run = ProgTestRun.load()) {
                    int before = Libc.ifNameToIndex("dm2");
                    assertEquals(0, before, "dm2 must not exist outside the namespace");
                    enterNetns(ns);
                    int dm2 = Libc.ifNameToIndex("dm2");
                    int lo = Libc.ifNameToIndex("lo");
                    assertEquals(1, lo);
                    assertTrue(dm2 > 1, "dm2 ifindex " + dm2);
                    run.run(INBOUND, f, Skb.ifindex(dm2));
                    run.run(OUTBOUND, f, Skb.ifindex(dm2));
                    run.run(OUTBOUND, f);                  // no ctx: loopback of this netns
                    run.run(INBOUND, lldp, Skb.ifindex(dm2));
                    IpAddress s = IpAddress.parse("192.0.2.1");
                    IpAddress d = IpAddress.parse("198.51.100.2");
                    run.assertMaps(Map.of(
                                    FlowKey.of(dm2, INBOUND, s, d), new FlowValue(1, f.length),
                                    FlowKey.of(dm2, OUTBOUND, s, d), new FlowValue(1, f.length),
                                    FlowKey.of(lo, OUTBOUND, s, d), new FlowValue(1, f.length)),
                            Map.of(new StatKey(dm2, INBOUND, KernelStat.NON_IP), new FlowValue(1, lldp.length)));
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            t.join();
            if (failure.get() != null) {
                throw failure.get();
            }
        } finally {
            ip("netns", "del", ns);
        }
    }
}
