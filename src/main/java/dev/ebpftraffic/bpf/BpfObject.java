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

    /**
     * The programs that read kernel structures through CO-RE. libbpf parses the kernel's BTF
     * (/sys/kernel/btf/vmlinux, 5.5 MB here: about 80 ms of CPU) on every load of an object that has CO-RE
     * relocations, whether the programs that carry them are loaded or not.
     */
    public static final List<String> CORE_PROGRAMS = List.of(PROG_PROC_SOCK_CREATE, PROG_PROC_SCAN);
    /** An empty BTF (header and an empty string section): what the split load relocates against. */
    private static final byte[] EMPTY_BTF = {(byte) 0x9f, (byte) 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 1, 0, 0, 0, 0};

    private final Libbpf lib;
    private final Arena arena;
    private final MemorySegment obj;
    private final MemorySegment image; // the ELF, read by libbpf's opens; freed once no open is to come (freeBuffer)
    private boolean loaded;
    private int emptyBtfFd = -1; // split: the empty BTF file until load
    private boolean split;
    private volatile MemorySegment core; // split: CORE_PROGRAMS once loadCore() has run

    private BpfObject(Libbpf lib, Arena arena, MemorySegment obj, MemorySegment image) {
        this.lib = lib;
        this.arena = arena;
        this.obj = obj;
        this.image = image;
    }

    /** Opens the object embedded in the jar; nothing reaches the kernel yet. */
    public static BpfObject openEmbedded(Libbpf lib) {
        return open(lib, null);
    }

    /**
     * As {@link #openEmbedded}, but {@link #load} leaves {@link #CORE_PROGRAMS} out and does not parse
     * the kernel's BTF: the object's CO-RE relocations are made against an empty BTF (an unnamed file,
     * /proc/self/fd/N), and only the programs left out carry any. {@link #loadCore} loads them
     * afterwards, on any thread, in a second libbpf object of the same ELF that uses this one's maps.
     * Where no such file can be made, this is {@link #openEmbedded} (and loadCore does nothing).
     */
    public static BpfObject openEmbeddedSplit(Libbpf lib) {
        int fd = Libc.openTmpfile("/dev/shm");
        if (fd < 0) {
            fd = Libc.openTmpfile(System.getProperty("java.io.tmpdir", "/tmp"));
        }
        if (fd < 0 || !writeAll(fd, EMPTY_BTF)) {
            Libc.close(fd);
            return openEmbedded(lib);
        }
        BpfObject o;
        try {
            o = open(lib, "/proc/self/fd/" + fd);
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
        o.emptyBtfFd = fd;
        o.split = true;
        try {
            CORE_PROGRAMS.forEach(o::skipProgram);
        } catch (RuntimeException e) {
            o.close();
            throw e;
        }
        return o;
    }

    private static boolean writeAll(int fd, byte[] bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment b = a.allocate(bytes.length);
            b.copyFrom(MemorySegment.ofArray(bytes));
            return Libc.write(fd, b, bytes.length) == bytes.length;
        }
    }

    private static BpfObject open(Libbpf lib, String btfCustomPath) {
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
            return new BpfObject(lib, arena, btfCustomPath == null ? lib.objectOpenMem(buf) : lib.objectOpenMem(buf, btfCustomPath), buf);
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
    public synchronized void load() {
        int err = lib.objectLoad(obj);
        Libc.close(emptyBtfFd); // read by the load (CO-RE relocations), not needed after it
        emptyBtfFd = -1;
        if (!split) {
            // No libbpf reads the ELF after the open (1.x lets go of it at the end of open); the 450 KB
            // copy would otherwise stay resident for the exporter's life. A split object keeps it for
            // loadCore's second object, which frees it.
            freeBuffer();
        }
        if (err < 0) {
            throw new LibbpfException(loadErrorMessage(-err), -err);
        }
        loaded = true;
    }

    /**
     * After {@link #load} of a split object: loads {@link #CORE_PROGRAMS} (the kernel's BTF is parsed
     * now) in a second object whose maps are this one's; their fds then come from {@link #programFd}.
     * Does nothing when the object is not split or they are loaded already. Throws when the kernel
     * refuses them; this object stays as it was.
     */
    public synchronized void loadCore() {
        requireLoaded();
        if (!split || core != null) {
            return;
        }
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("the BPF object's image is freed (closeCore ran)");
        }
        MemorySegment c = lib.objectOpenMem(image);
        freeBuffer(); // the open copied what the second object keeps
        try {
            for (MemorySegment p : lib.programs(c)) {
                int err = lib.programSetAutoload(p, CORE_PROGRAMS.contains(lib.programName(p)));
                if (err < 0) {
                    throw new LibbpfException("cannot choose the programs to load: " + Libc.strerror(-err), -err);
                }
            }
            for (MemorySegment m : lib.maps(c)) {
                String name = lib.mapName(m);
                int err = lib.mapReuseFd(m, lib.mapFd(lib.findMap(obj, name)));
                if (err < 0) {
                    throw new LibbpfException("cannot share map " + name + " with the per-process programs: " + Libc.strerror(-err), -err);
                }
            }
            int err = lib.objectLoad(c);
            if (err < 0) {
                throw new LibbpfException(loadErrorMessage(-err), -err);
            }
        } catch (RuntimeException e) {
            lib.objectClose(c);
            throw e;
        }
        core = c;
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
        if (split && CORE_PROGRAMS.contains(name)) {
            MemorySegment c = core;
            if (c == null) {
                throw new IllegalStateException("program " + name + " is not loaded yet (loadCore)");
            }
            return lib.programFd(lib.findProgram(c, name));
        }
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

    /**
     * Frees the second object of a split load (libbpf's copy of the ELF's programs and BTF) once its
     * programs are attached or no longer wanted: the links hold the programs. Their fds are gone after it.
     */
    public synchronized void closeCore() {
        MemorySegment c = core;
        core = null;
        if (c != null) {
            lib.objectClose(c);
        }
        freeBuffer();
    }

    /** Waits for a {@link #loadCore} under way. */
    @Override
    public synchronized void close() {
        MemorySegment c = core;
        core = null;
        if (c != null) {
            lib.objectClose(c);
        }
        lib.objectClose(obj);
        Libc.close(emptyBtfFd);
        emptyBtfFd = -1;
        freeBuffer();
    }
}
