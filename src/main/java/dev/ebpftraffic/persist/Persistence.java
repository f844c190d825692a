package dev.ebpftraffic.persist;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.bpf.BpfPins;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.metrics.TrafficCollector;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * Restarts that lose nothing: the pinned kernel objects ({@link BpfPins}) and the state file
 * ({@link StateFile}), wired into the exporter's start and exit.
 *
 * <p>Start: reuse the pinned maps when they fit (before load), pin new ones (after load), restore
 * the state (its kernel part only when the maps are the very ones it describes: same boot, same
 * map ids), then take over the pinned TCX links. Graceful exit (SIGTERM): the links stay attached
 * and pinned, so the kernel keeps counting; a last refresh writes the state. A crash (SIGKILL)
 * leaves the same, with the state of the last refresh or scrape.
 */
public final class Persistence {
    /**
     * Tests only: "before-write" or "after-write" makes the process die like SIGKILL at the first
     * state write after 1.5 s that follows a read which moved kernel entries (flows entries into the
     * reader's totals and, with per-workload traffic on, "workloads" entries into the series), just
     * before it or just after it (before those entries are deleted from the kernel): the two windows
     * a crash at a random time rarely hits.
     */
    static final String TEST_CRASH_ENV = "EBPF_TRAFFIC_EXPORTER_TEST_CRASH";

    private final Path pinPath; // null: nothing pinned
    private final StateFile stateFile;
    private final Consumer<String> info;
    private final Consumer<String> warn;
    private BpfPins pins;
    private boolean mapsContinue;
    private List<Integer> mapIds = List.of();
    private TrafficCollector collector;
    @SuppressWarnings("unused") // kept referenced: the lock lives as long as the process
    private java.nio.channels.FileLock lock;

    public Persistence(Path pinPath, Path stateFile, Consumer<String> info, Consumer<String> warn) {
        this.pinPath = pinPath;
        this.stateFile = new StateFile(stateFile);
        this.info = info;
        this.warn = warn;
    }

    /** Before BpfObject.load. */
    public void beforeLoad(Libbpf lib, BpfObject obj) {
        lock();
        if (pinPath != null) {
            pins = BpfPins.open(lib, pinPath, info);
            mapsContinue = pins.reuseMaps(obj);
        }
    }

    /**
     * One process at a time per state file (and its pins): two would drain each other's kernel
     * entries and overwrite each other's state. The kernel releases the lock when the process dies.
     */
    private void lock() {
        Path lockPath = stateFile.path().resolveSibling(stateFile.path().getFileName() + ".lock");
        try {
            java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lockPath,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
            java.nio.channels.FileLock l = ch.tryLock();
            if (l == null) {
                ch.close();
                throw new IllegalStateException("another exporter is running with --state.file " + stateFile.path()
                        + " (" + lockPath + " is locked): stop it first, or give this one its own --state.file and --bpf.pin-path");
            }
            lock = l; // held until the process exits
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot lock " + lockPath + ": " + e.getMessage());
        }
    }

    /** After load, before anything is attached. */
    public void afterLoad(BpfObject obj) {
        if (pins != null) {
            pins.pinMaps(obj);
            mapIds = BpfPins.mapIds(pins.lib(), obj);
        }
    }

    /** Restores the state into a collector that has not refreshed yet, and saves through it from now on. */
    public void restore(TrafficCollector c) {
        collector = c;
        StateFile.Contents st;
        try {
            st = stateFile.read();
        } catch (RuntimeException e) {
            warn.accept("ignoring the state file: " + e.getMessage() + "; counters start from 0");
            st = null;
        }
        String boot = StateFile.bootId();
        if (st == null && mapsContinue) {
            warn.accept("no state file at " + stateFile.path() + " but the pinned maps were kept: counters start from 0, and what"
                    + " the kernel still holds from before is counted again; run `uninstall` to start clean");
        } else if (st == null) {
            info.accept("no state file at " + stateFile.path() + " yet: counters start from 0");
        } else {
            boolean kernel = mapsContinue && st.bootId().equals(boot) && st.mapIds().equals(mapIds) && !mapIds.isEmpty();
            boolean flows = c.restore(st.state(), kernel);
            if (kernel && !flows) {
                warn.accept("the state file " + stateFile.path() + " is not the last one written over the pinned maps (their epoch"
                        + " moved on since): the flows counted since then may be lost or counted twice");
            }
            info.accept("restored " + st.state().flows().series().size() + " series from " + stateFile.path()
                    + (kernel ? ": counters continue, with what the kernel counted meanwhile"
                    : ": counters continue; the kernel maps are new, so traffic after the last state write is not in them"));
        }
        String bootId = boot;
        List<Integer> ids = mapIds;
        String crash = System.getenv(TEST_CRASH_ENV);
        long crashAfter = System.nanoTime() + 1_500_000_000L;
        int[] lastEpochs = {Integer.MIN_VALUE, Integer.MIN_VALUE}; // of the last write: flows moved, workloads handed out
        c.stateSink(state -> {
            StateFile.Contents contents = new StateFile.Contents(bootId, ids, state);
            boolean halt = false;
            if (crash != null && state.reader() != null) {
                boolean moved = state.reader().epoch() != lastEpochs[0]
                        && (state.workloads() == null || state.reader().workloadEpoch() != lastEpochs[1]);
                halt = moved && System.nanoTime() > crashAfter;
                lastEpochs[0] = state.reader().epoch();
                lastEpochs[1] = state.reader().workloadEpoch();
            }
            if (halt && crash.equals("before-write")) {
                Runtime.getRuntime().halt(137);
            }
            stateFile.write(contents);
            if (halt && crash.equals("after-write")) {
                Runtime.getRuntime().halt(137);
            }
        });
        // Write now, so that a crash before the first scrape still finds this state.
        c.refresh();
    }

    /** Before the attach manager starts: TCX links go through pins. */
    public void beforeAttach(Libbpf lib) {
        if (pins != null) {
            TcAttachment.pinLinks(pins.linkPins(lib));
        }
    }

    /** The cgroup links of per-workload attribution go through pins too (null: nothing pinned). */
    public dev.ebpftraffic.bpf.WorkloadAttachment.LinkPins cgroupLinkPins(Libbpf lib) {
        return pins == null ? null : pins.cgroupLinkPins(lib);
    }

    /** Per-workload attribution does not run in this process: links a previous one pinned go. */
    public void workloadsOff() {
        if (pins != null) {
            for (String p : pins.dropCgroupLinks()) {
                info.accept("per-workload traffic is off: unpinned " + p + " (the kernel detaches it)");
            }
        }
    }

    /** First step of a graceful exit: links stay attached, and the last state is written (the collector reads no more). */
    public void exiting() {
        if (pins != null) {
            pins.keepLinks();
            info.accept("leaving the maps and TCX links pinned in " + pinPath + " (legacy filters are removed): the kernel keeps counting until the next start"
                    + " (`ebpf-traffic-exporter uninstall --bpf.pin-path " + pinPath + "` removes them)");
            // The cgroup links (per-workload traffic) stay pinned and attached the same way.
        }
        if (collector != null) {
            collector.refresh(); // reads and writes the state
            // That write stays the last: scrapes until the server stops serve these totals without
            // reading the maps or writing. One that did could move kernel entries and then fail its write
            // when the server's close interrupts it, and the moved counts would be in no state file.
            collector.close();
        }
    }

    /**
     * Clean removal: detaches and unpins every TCX link, unpins the maps, removes the pin
     * directory and the state file. Lines say what was removed.
     */
    public static List<String> uninstall(Path pinPath, Path stateFile) {
        List<String> removed = new java.util.ArrayList<>();
        if (pinPath != null) {
            removed.addAll(BpfPins.uninstall(pinPath));
        }
        if (stateFile != null && new StateFile(stateFile).delete()) {
            removed.add(stateFile.toString());
        }
        return removed;
    }
}
