package dev.ebpftraffic.bpf;

import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The embedded traffic.bpf.o, opened (and optionally loaded) through libbpf.
 * Names here must match bpf/traffic.bpf.c; BpfNamesTest checks them against the object.
 */
public final class BpfObject implements AutoCloseable {
    public static final String RESOURCE = "/bpf/traffic.bpf.o";
    /** Hash of IPv4 pairs (struct flow4_key to struct flow_entry), shared by all CPUs. */
    public static final String MAP_FLOWS4 = "flows4";
    /** Hash of IPv6 pairs (struct flow6_key to struct flow_entry), shared by all CPUs. */
    public static final String MAP_FLOWS6 = "flows6";
    /** Per-CPU arrays where busy flows4 / flows6 entries count (struct hot4_slot, hot6_slot; HotSlots). */
    public static final String MAP_HOT4 = "hot4";
    public static final String MAP_HOT6 = "hot6";
    public static final String MAP_STATS = "stats";
    /** One-element array: the epoch the programs put in bit 30 of a flows key's ifdir (BpfFlowReader flips it). */
    public static final String MAP_EPOCH = "epoch";
    /** Two-element array (FULL_FLOWS4, FULL_FLOWS6): set by a program whose flows insert failed, cleared by BpfFlowReader. */
    public static final String MAP_FLOWS_FULL = "flows_full";
    /** Per-CPU array of struct overflow_slot: overflow stats by interface slot, added to "stats" by BpfFlowReader. */
    public static final String MAP_OVERFLOW = "overflow";
    /** LPM trie of the --config.file CIDRs (struct ip_group_key), for the overflow path's ip_type. */
    public static final String MAP_IP_GROUPS = "ip_groups";
    /** Per-CPU hash of the cgroup_skb programs: struct workload_key to struct flow_value. */
    public static final String MAP_WORKLOADS = "workloads";
    /** Per-CPU array of two struct flow_value: what did not fit in "workloads", per direction. */
    public static final String MAP_WORKLOAD_OVERFLOW = "workload_overflow";
    /** Per-CPU hash of the cgroup_skb programs, only while the live view samples peers: struct wl_peer_key to struct flow_value. */
    public static final String MAP_WL_PEERS = "wl_peers";
    /** One-element array: non-zero while "wl_peers" is counted. */
    public static final String MAP_WL_PEERS_ON = "wl_peers_on";
    /** Per-CPU array of four struct flow_value: what did not fit in "wl_peers". */
    public static final String MAP_WL_PEERS_FULL = "wl_peers_full";
    /** Per-CPU hash of cgroup_proc_*: struct proc_key to struct flow_value. */
    public static final String MAP_PROCS = "procs";
    /** Per-CPU array of two struct flow_value: what did not fit in "procs", per direction. */
    public static final String MAP_PROC_OVERFLOW = "proc_overflow";
    /** LRU hash: tgid to struct proc_comm. */
    public static final String MAP_PROC_COMMS = "proc_comms";
    /** Socket local storage of the per-process programs: the process that created each socket. */
    public static final String MAP_PROC_SK = "proc_sk";
    /** Hash of the sockets proc_scan found at start, until their first packet. */
    public static final String MAP_PROC_SCANNED = "proc_scanned";
    /** The same as cgroup_wl_*, plus the count per process (--workloads auto). */
    public static final String PROG_PROC_INGRESS = "cgroup_proc_ingress";
    public static final String PROG_PROC_EGRESS = "cgroup_proc_egress";
    /** cgroup/sock_create: tags each new inet socket with its process. */
    public static final String PROG_PROC_SOCK_CREATE = "proc_sock_create";
    /** iter/task_file: finds the processes of the sockets that existed at start. */
    public static final String PROG_PROC_SCAN = "proc_scan";
    /** Every per-process program: left out of the load where they cannot or need not run. */
    public static final List<String> PROCESS_PROGRAMS = List.of(PROG_PROC_INGRESS, PROG_PROC_EGRESS, PROG_PROC_SOCK_CREATE,
            PROG_PROC_SCAN);
    /** cgroup_skb programs, attached to the cgroup v2 root (WorkloadAttachment). */
    public static final String PROG_CGROUP_INGRESS = "cgroup_wl_ingress";
    public static final String PROG_CGROUP_EGRESS = "cgroup_wl_egress";
    public static final String PROG_INGRESS = "tc_ingress";
    public static final String PROG_EGRESS = "tc_egress";
    /** The same accounting for devices without an Ethernet header: the packet starts at the IP header. */
    public static final String PROG_INGRESS_L3 = "tc_ingress_l3";
    public static final String PROG_EGRESS_L3 = "tc_egress_l3";

    private final Libbpf lib;
    private final Arena arena;
    private final MemorySegment obj;
    private boolean loaded;

    private BpfObject(Libbpf lib, Arena arena, MemorySegment obj) {
        this.lib = lib;
        this.arena = arena;
        this.obj = obj;
    }

    /** Opens the object embedded in the jar; nothing reaches the kernel yet. */
    public static BpfObject openEmbedded(Libbpf lib) {
        byte[] bytes;
        try (InputStream in = BpfObject.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the jar: build with `make build`");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Arena arena = Arena.ofShared();
        try {
            // libbpf reads the ELF from this buffer while it opens the object and copies what it keeps
            // (programs, BTF, map definitions); load() frees it, and close() if there was no load.
            MemorySegment buf = arena.allocate(bytes.length, 8);
            buf.copyFrom(MemorySegment.ofArray(bytes));
            return new BpfObject(lib, arena, lib.objectOpenMem(buf));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public void setMaxEntries(String map, int entries) {
        int err = lib.mapSetMaxEntries(lib.findMap(obj, map), entries);
        if (err < 0) {
            throw new LibbpfException("cannot size map " + map + " to " + entries + ": " + Libc.strerror(-err), -err);
        }
    }

    /** Before load: leaves a program out of the load (it then has no fd). */
    public void skipProgram(String name) {
        int err = lib.programSetAutoload(lib.findProgram(obj, name), false);
        if (err < 0) {
            throw new LibbpfException("cannot leave program " + name + " out of the load: " + Libc.strerror(-err), -err);
        }
    }

    public int maxEntries(String map) {
        return lib.mapMaxEntries(lib.findMap(obj, map));
    }

    /** Creates the maps and loads the programs into the kernel. */
    public void load() {
        int err = lib.objectLoad(obj);
        // No libbpf reads the ELF after the load (1.x lets go of it at the end of open); the 450 KB copy
        // would otherwise stay resident for the exporter's life.
        freeBuffer();
        if (err < 0) {
            throw new LibbpfException(loadErrorMessage(-err), -err);
        }
        loaded = true;
    }

    static String loadErrorMessage(int errno) {
        return switch (errno) {
            case Errno.EPERM -> "permission denied loading the BPF program: run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON";
            case Errno.ENOSYS -> "this kernel has no BPF support (bpf() returned ENOSYS): a kernel built with CONFIG_BPF_SYSCALL is required";
            case Errno.EACCES -> "the kernel's verifier rejected the BPF program (see the libbpf log above): the kernel may be too old (5.8+ needed)";
            default -> "cannot load the BPF program: " + Libc.strerror(errno) + " (see the libbpf log above)";
        };
    }

    public int mapFd(String name) {
        requireLoaded();
        return lib.mapFd(lib.findMap(obj, name));
    }

    public int programFd(String name) {
        requireLoaded();
        return lib.programFd(lib.findProgram(obj, name));
    }

    /** True when the object has a program of that name (usable before load). */
    public boolean hasProgram(String name) {
        try {
            lib.findProgram(obj, name);
            return true;
        } catch (LibbpfException e) {
            return false;
        }
    }

    /** True when the object has a map of that name (usable before load). */
    public boolean hasMap(String name) {
        try {
            lib.findMap(obj, name);
            return true;
        } catch (LibbpfException e) {
            return false;
        }
    }

    /** Every map of the object, for {@link #mapMemory} (all are created at load, whatever the flags). */
    public static final List<String> MAPS = List.of(MAP_FLOWS4, MAP_FLOWS6, MAP_STATS, MAP_OVERFLOW, MAP_EPOCH, MAP_FLOWS_FULL,
            MAP_IP_GROUPS, MAP_HOT4, MAP_HOT6, MAP_WORKLOADS, MAP_WORKLOAD_OVERFLOW, MAP_WL_PEERS, MAP_WL_PEERS_ON,
            MAP_WL_PEERS_FULL, MAP_PROC_SK, MAP_PROC_OVERFLOW, MAP_PROCS, MAP_PROC_SCANNED, MAP_PROC_COMMS);

    /**
     * Kernel memory of each map: "memlock" of its fd in /proc/self/fdinfo, which the kernel computes from
     * the map's type, size and possible CPUs (preallocated maps: all of it at creation). Maps it cannot
     * read are left out.
     */
    public Map<String, Long> mapMemory() {
        requireLoaded();
        Map<String, Long> m = new LinkedHashMap<>();
        for (String name : MAPS) {
            if (!hasMap(name)) {
                continue;
            }
            long bytes = memlock(mapFd(name));
            if (bytes >= 0) {
                m.put(name, bytes);
            }
        }
        return m;
    }

    /** memlock of an fd from /proc/self/fdinfo, or -1. */
    static long memlock(int fd) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
                if (line.startsWith("memlock:")) {
                    return Long.parseLong(line.substring("memlock:".length()).trim());
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** libbpf's struct bpf_map of that name (for pinning: reuse before load). */
    public MemorySegment mapHandle(String name) {
        return lib.findMap(obj, name);
    }

    /** The object's BTF, for layout checks. */
    public MemorySegment btf() {
        return lib.objectBtf(obj);
    }

    public Libbpf lib() {
        return lib;
    }

    private void requireLoaded() {
        if (!loaded) {
            throw new IllegalStateException("the BPF object is not loaded");
        }
    }

    private void freeBuffer() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public void close() {
        lib.objectClose(obj);
        freeBuffer();
    }
}
