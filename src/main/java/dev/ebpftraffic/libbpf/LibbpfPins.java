package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.sys.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The part of libbpf that pins objects in bpffs and reuses them: bpf_obj_pin / bpf_obj_get,
 * bpf_map__reuse_fd, bpf_link_update and bpf_obj_get_info_by_fd (libbpf >= 1.0: -errno returns).
 * Kept apart from {@link Libbpf} so that the restart feature stays one separate piece.
 */
public final class LibbpfPins {
    /** enum bpf_link_type: BPF_LINK_TYPE_TCX (newer than some system headers). */
    public static final int BPF_LINK_TYPE_TCX = 11;
    /** enum bpf_link_type: BPF_LINK_TYPE_CGROUP. */
    public static final int BPF_LINK_TYPE_CGROUP = 3;

    /** What bpf_obj_get_info_by_fd says about a map (struct bpf_map_info's first fields). */
    public record MapInfo(int id, int type, int keySize, int valueSize, int maxEntries, int flags) {
        /** Same layout: a map created from one could serve the other (the id does not matter). */
        public boolean sameLayout(MapInfo o) {
            return type == o.type && keySize == o.keySize && valueSize == o.valueSize && maxEntries == o.maxEntries
                    && flags == o.flags;
        }

        @Override
        public String toString() {
            return "type " + type + ", key " + keySize + " B, value " + valueSize + " B, max_entries " + maxEntries
                    + ", flags 0x" + Integer.toHexString(flags);
        }
    }

    /** What bpf_obj_get_info_by_fd says about a link (struct bpf_link_info, tcx member). */
    public record LinkInfo(int type, int progId, int ifindex, int attachType) {
    }

    /** The same for a cgroup link (struct bpf_link_info, cgroup member). */
    public record CgroupLinkInfo(int type, int progId, long cgroupId, int attachType) {
    }

    // In the shared shape of Native.function (Native.words says why that is exact), linked on first
    // use; the comment after each gives its C signature, which the calls below follow.
    private final Native.Downcall objPin; // int (int, ptr)
    private final Native.Downcall objGet; // int (ptr)
    private final Native.Downcall infoByFd; // int (int, ptr, ptr)
    private final Native.Downcall reuseFd; // int (ptr, int)
    private final Native.Downcall linkUpdate; // int (int, int, ptr)
    private final Native.Downcall mapType; // enum (ptr)
    private final Native.Downcall mapKeySize; // __u32 (ptr)
    private final Native.Downcall mapValueSize; // __u32 (ptr)
    private final Native.Downcall mapFlags; // __u32 (ptr)

    public LibbpfPins(Libbpf lib) {
        SymbolLookup l = SymbolLookup.libraryLookup(lib.path(), Arena.global());
        objPin = fn(l, "bpf_obj_pin", 2);
        objGet = fn(l, "bpf_obj_get", 1);
        infoByFd = fn(l, "bpf_obj_get_info_by_fd", 3);
        reuseFd = fn(l, "bpf_map__reuse_fd", 2);
        linkUpdate = fn(l, "bpf_link_update", 3);
        mapType = fn(l, "bpf_map__type", 1);
        mapKeySize = fn(l, "bpf_map__key_size", 1);
        mapValueSize = fn(l, "bpf_map__value_size", 1);
        mapFlags = fn(l, "bpf_map__map_flags", 1);
    }

    /** A too old libbpf is refused here, as before, not at the function's first call. */
    private static Native.Downcall fn(SymbolLookup l, String name, int arity) {
        Native.Downcall d = Native.function(l, name, arity, false, LibbpfPins::missing);
        if (!d.present()) {
            throw missing(name);
        }
        return d;
    }

    private static LibbpfException missing(String name) {
        return new LibbpfException("libbpf has no symbol " + name + ": libbpf >= 1.0 is required (apt-get install libbpf1)", 0);
    }

    /** bpf_obj_pin: 0 or -errno. */
    public int pin(int fd, String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) objPin.call(fd, Native.addr(a.allocateFrom(path)));
        }
    }

    /** bpf_obj_get: an fd, or -errno (-ENOENT when nothing is pinned there). */
    public int get(String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) objGet.call(Native.addr(a.allocateFrom(path)));
        }
    }

    /** bpf_map__reuse_fd: the object's map uses this map (libbpf dups fd). 0 or -errno. */
    public int reuseFd(MemorySegment map, int fd) {
        return (int) reuseFd.call(Native.addr(map), fd);
    }

    /** bpf_link_update(link, prog, NULL): swaps the link's program atomically. 0 or -errno. */
    public int linkUpdate(int linkFd, int progFd) {
        return (int) linkUpdate.call(linkFd, progFd, 0L);
    }

    /** The map definition of an opened, not yet loaded object's map (sizes as they will be created). */
    public MapInfo definition(MemorySegment map, int maxEntries) {
        long m = Native.addr(map);
        return new MapInfo(0, (int) mapType.call(m), (int) mapKeySize.call(m), (int) mapValueSize.call(m), maxEntries,
                (int) mapFlags.call(m));
    }

    /** The kernel's view of a map fd; throws when fd is not a map. */
    public MapInfo mapInfo(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = info(a, fd);
            // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags
            return new MapInfo(info.get(JAVA_INT, 4), info.get(JAVA_INT, 0), info.get(JAVA_INT, 8), info.get(JAVA_INT, 12),
                    info.get(JAVA_INT, 16), info.get(JAVA_INT, 20));
        }
    }

    /** The kernel's view of a link fd. */
    public LinkInfo linkInfo(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = info(a, fd);
            // struct bpf_link_info: type, id, prog_id, (pad), then the union at 16: tcx {ifindex, attach_type}
            return new LinkInfo(info.get(JAVA_INT, 0), info.get(JAVA_INT, 8), info.get(JAVA_INT, 16), info.get(JAVA_INT, 20));
        }
    }

    /** The kernel's view of a cgroup link fd. */
    public CgroupLinkInfo cgroupLinkInfo(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment info = info(a, fd);
            // the union at 16: cgroup {__u64 cgroup_id; __u32 attach_type}
            return new CgroupLinkInfo(info.get(JAVA_INT, 0), info.get(JAVA_INT, 8), info.get(JAVA_LONG, 16), info.get(JAVA_INT, 24));
        }
    }

    private MemorySegment info(Arena a, int fd) {
        MemorySegment info = a.allocate(256, 8);
        MemorySegment len = a.allocate(JAVA_INT);
        len.set(JAVA_INT, 0, 256);
        int err = (int) infoByFd.call(fd, Native.addr(info), Native.addr(len));
        if (err < 0) {
            throw new LibbpfException("cannot read the info of BPF fd " + fd + ": " + Libc.strerror(-err), -err);
        }
        return info;
    }
}
