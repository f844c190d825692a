package dev.ebpftraffic.bench;

import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.libbpf.LibbpfException;
import dev.ebpftraffic.sys.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/** A BPF object file from disk (the bench's reference programs in bpf/bench/), loaded; fd is one program's. */
record FileProgram(Libbpf lib, Arena arena, MemorySegment obj, int fd) implements AutoCloseable {
    static FileProgram open(Libbpf lib, Path file, String prog) throws IOException {
        return open(lib, file, prog, java.util.Map.of());
    }

    /** As open, with max_entries of the named maps set before load. */
    static FileProgram open(Libbpf lib, Path file, String prog, java.util.Map<String, Integer> sizes) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        Arena arena = Arena.ofShared();
        MemorySegment buf = arena.allocate(bytes.length, 8);
        buf.copyFrom(MemorySegment.ofArray(bytes));
        MemorySegment obj = lib.objectOpenMem(buf);
        sizes.forEach((map, n) -> lib.mapSetMaxEntries(lib.findMap(obj, map), n));
        int err = lib.objectLoad(obj);
        if (err < 0) {
            lib.objectClose(obj);
            arena.close();
            throw new LibbpfException("cannot load " + file + ": " + Libc.strerror(-err), -err);
        }
        return new FileProgram(lib, arena, obj, lib.programFd(lib.findProgram(obj, prog)));
    }

    @Override
    public void close() {
        lib.objectClose(obj);
        arena.close();
    }
}
