package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.sys.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
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
    private static final Linker LINKER = Linker.nativeLinker();

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

    private final MethodHandle objPin;
    private final MethodHandle objGet;
    private final MethodHandle infoByFd;
    private final MethodHandle reuseFd;
    private final MethodHandle linkUpdate;
    private final MethodHandle mapType;
    private final MethodHandle mapKeySize;
    private final MethodHandle mapValueSize;
    private final MethodHandle mapFlags;

    public LibbpfPins(Libbpf lib) {
        SymbolLookup l = SymbolLookup.libraryLookup(lib.path(), Arena.global());
        objPin = handle(l, "bpf_obj_pin", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        objGet = handle(l, "bpf_obj_get", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        infoByFd = handle(l, "bpf_obj_get_info_by_fd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        reuseFd = handle(l, "bpf_map__reuse_fd", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        linkUpdate = handle(l, "bpf_link_update", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
        mapType = handle(l, "bpf_map__type", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapKeySize = handle(l, "bpf_map__key_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapValueSize = handle(l, "bpf_map__value_size", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        mapFlags = handle(l, "bpf_map__map_flags", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static MethodHandle handle(SymbolLookup l, String name, FunctionDescriptor fd) {
        MemorySegment s = l.find(name).orElseThrow(() -> new LibbpfException(
                "libbpf has no symbol " + name + ": libbpf >= 1.0 is required (apt-get install libbpf1)", 0));
        return LINKER.downcallHandle(s, fd);
    }

    /** bpf_obj_pin: 0 or -errno. */
    public int pin(int fd, String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) objPin.invokeExact(fd, a.allocateFrom(path));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** bpf_obj_get: an fd, or -errno (-ENOENT when nothing is pinned there). */
    public int get(String path) {
        try (Arena a = Arena.ofConfined()) {
            return (int) objGet.invokeExact(a.allocateFrom(path));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** bpf_map__reuse_fd: the object's map uses this map (libbpf dups fd). 0 or -errno. */
    public int reuseFd(MemorySegment map, int fd) {
        try {
            return (int) reuseFd.invokeExact(map, fd);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** bpf_link_update(link, prog, NULL): swaps the link's program atomically. 0 or -errno. */
    public int linkUpdate(int linkFd, int progFd) {
        try {
            return (int) linkUpdate.invokeExact(linkFd, progFd, MemorySegment.NULL);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** The map definition of an opened, not yet loaded object's map (sizes as they will be created). */
    public MapInfo definition(MemorySegment map, int maxEntries) {
        try {
            return new MapInfo(0, (int) mapType.invokeExact(map), (int) mapKeySize.invokeExact(map),
                    (int) mapValueSize.invokeExact(map), maxEntries, (int) mapFlags.invokeExact(map));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
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
        int err;
        try {
            err = (int) infoByFd.invokeExact(fd, info, len);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
        if (err < 0) {
            throw new LibbpfException("cannot read the info of BPF fd " + fd + ": " + Libc.strerror(-err), -err);
        }
        return info;
    }
}
