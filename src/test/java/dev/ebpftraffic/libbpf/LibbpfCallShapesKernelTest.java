package dev.ebpftraffic.libbpf;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.testing.KernelTest;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every function of the libbpf and libc bindings, called through the one 64-bit descriptor shape
 * (Native.words): int results come back exact, negative -errno included (the upper half of the
 * result register is not the int's sign), pointer results and NULL, int and bool arguments, a
 * 64-bit flags argument, the seventh argument (on the stack on x86-64), the void result, errno
 * capture, and the log upcall with vsnprintf.
 */
@KernelTest
class LibbpfCallShapesKernelTest {
    private static final int BPF_MAP_TYPE_HASH = 1;
    private static final int BPF_ANY = 0;
    private static final int BPF_NOEXIST = 1;
    private static final int BPF_EXIST = 2;
    private static final int EAFNOSUPPORT = 97;
    private static final int EBUSY = 16;
    private static final int EBADFD = 77;

    private static int possibleCpus() throws Exception {
        int n = 0;
        for (String range : Files.readString(Path.of("/sys/devices/system/cpu/possible")).trim().split(",")) {
            String[] ab = range.split("-");
            n += ab.length == 1 ? 1 : Integer.parseInt(ab[1]) - Integer.parseInt(ab[0]) + 1;
        }
        return n;
    }

    @Test
    void libbpfCallsReturnExactResults() throws Exception {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        List<String> warnings = new ArrayList<>();
        lib.setPrint(new Libbpf.PrintSink() {
            @Override
            public boolean enabled(int level) {
                return level == 0;
            }

            @Override
            public void print(int level, String line) {
                warnings.add(line);
            }
        });
        assertEquals(possibleCpus(), lib.numPossibleCpus());

        // Not an ELF object: a NULL result with errno captured; libbpf's warning through the upcall.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment junk = arena.allocate(64);
            LibbpfException e = assertThrows(LibbpfException.class, () -> lib.objectOpenMem(junk));
            assertTrue(e.errno() > 0, "errno captured: " + e.errno());
            assertEquals("cannot open the BPF object: " + Libc.strerror(e.errno()), e.getMessage());
            assertFalse(warnings.isEmpty(), "libbpf's warning reached the sink");
            assertTrue(warnings.stream().allMatch(w -> w.startsWith("libbpf: ")), warnings.toString());
        }

        try (BpfObject o = BpfObject.openEmbedded(lib); Arena arena = Arena.ofConfined()) {
            MemorySegment obj = objectOf(o);
            LibbpfException noMap = assertThrows(LibbpfException.class, () -> lib.findMap(obj, "no_such_map"));
            assertEquals(Errno.ENOENT, noMap.errno());
            LibbpfException noProg = assertThrows(LibbpfException.class, () -> lib.findProgram(obj, "no_such_prog"));
            assertEquals(Errno.ENOENT, noProg.errno());
            assertNotEquals(MemorySegment.NULL, lib.objectBtf(obj));

            MemorySegment flows4 = lib.findMap(obj, BpfObject.MAP_FLOWS4);
            assertEquals(0, lib.mapSetMaxEntries(flows4, 1234));
            assertEquals(1234, lib.mapMaxEntries(flows4));
            // Left out by a false bool, loaded by a true one.
            MemorySegment egress = lib.findProgram(obj, BpfObject.PROG_EGRESS);
            MemorySegment ingress = lib.findProgram(obj, BpfObject.PROG_INGRESS);
            assertEquals(0, lib.programSetAutoload(egress, false));
            assertEquals(0, lib.programSetAutoload(ingress, true));
            o.load();
            assertEquals(-EBUSY, lib.mapSetMaxEntries(flows4, 99), "resized after load");
            assertEquals(1234, lib.mapMaxEntries(flows4));
            assertEquals(-Errno.ENOENT, lib.programFd(egress), "not loaded: no fd");
            assertTrue(lib.programFd(ingress) >= 0);
            assertEquals(-Errno.EINVAL, lib.programSetAutoload(ingress, false), "after load");

            int fd = lib.mapFd(flows4);
            assertTrue(fd >= 0);
            MemorySegment info = arena.allocate(80, 8);
            assertEquals(0, lib.objGetInfoByFd(fd, info));
            assertEquals(BPF_MAP_TYPE_HASH, info.get(JAVA_INT, 0), "flows4 is a shared hash");
            int keySize = info.get(JAVA_INT, 8);
            int valueSize = info.get(JAVA_INT, 12);
            assertEquals(1234, info.get(JAVA_INT, 16));
            assertEquals(-EBADFD, lib.objGetInfoByFd(-1, info), "the kernel answers EBADFD here");

            MemorySegment key = arena.allocate(keySize);
            key.fill((byte) 7);
            MemorySegment value = arena.allocate(valueSize);
            MemorySegment next = arena.allocate(keySize);
            assertEquals(-Errno.ENOENT, lib.mapLookupElem(fd, key, value));
            assertEquals(-Errno.ENOENT, lib.mapUpdateElem(fd, key, value, BPF_EXIST));
            assertEquals(-Errno.ENOENT, lib.mapGetNextKey(fd, key, next), "empty map");
            value.fill((byte) 3);
            assertEquals(0, lib.mapUpdateElem(fd, key, value, BPF_NOEXIST));
            assertEquals(-Errno.EEXIST, lib.mapUpdateElem(fd, key, value, BPF_NOEXIST));
            assertEquals(-Errno.EINVAL, lib.mapUpdateElem(fd, key, value, 1L << 40), "flags are 64 bits wide");
            assertEquals(0, lib.mapGetNextKey(fd, MemorySegment.NULL, next));
            assertEquals(-1L, next.mismatch(key));
            MemorySegment read = arena.allocate(valueSize);
            assertEquals(0, lib.mapLookupElem(fd, key, read));
            assertEquals(-1L, read.mismatch(value));

            // The seventh argument (opts) is on the stack on x86-64: NULL there, one entry back.
            MemorySegment keys = arena.allocate((long) keySize * 4);
            MemorySegment values = arena.allocate((long) valueSize * 4);
            MemorySegment outBatch = arena.allocate(keySize);
            MemorySegment count = arena.allocate(JAVA_INT);
            count.set(JAVA_INT, 0, 4);
            int r = lib.mapLookupBatch(fd, MemorySegment.NULL, outBatch, keys, values, count);
            assertEquals(-Errno.ENOENT, r, "the whole map in one batch ends with ENOENT");
            assertEquals(1, count.get(JAVA_INT, 0));
            assertEquals(-1L, keys.asSlice(0, keySize).mismatch(key));
            assertEquals(-Errno.EBADF, lib.mapLookupBatch(-1, MemorySegment.NULL, outBatch, keys, values, count));

            MemorySegment taken = arena.allocate(valueSize);
            assertEquals(0, lib.mapLookupAndDeleteElem(fd, key, taken));
            assertEquals(-1L, taken.mismatch(value));
            assertEquals(-Errno.ENOENT, lib.mapLookupAndDeleteElem(fd, key, taken));
            assertEquals(0, lib.mapUpdateElem(fd, key, value, BPF_ANY));
            assertEquals(0, lib.mapDeleteElem(fd, key));
            assertEquals(-Errno.ENOENT, lib.mapDeleteElem(fd, key));
            assertEquals(-Errno.EBADF, lib.mapLookupElem(-1, key, value));
            assertEquals(-Errno.EBADF, lib.mapUpdateElem(-1, key, value, BPF_ANY));
            assertEquals(-Errno.EBADF, lib.mapDeleteElem(-1, key));
            assertEquals(-Errno.EBADF, lib.mapGetNextKey(-1, key, next));
            assertEquals(-Errno.EBADF, lib.mapLookupAndDeleteElem(-1, key, value));

            assertEquals(-Errno.EBADF, lib.linkCreate(-1, -1, Libbpf.BPF_TCX_INGRESS));
            assertEquals(-Errno.EBADF, lib.iterCreate(-1));
            // ifindex 0 is refused by libbpf itself, before any netlink message.
            MemorySegment hook = arena.allocate(Libbpf.TC_HOOK);
            hook.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, Libbpf.TC_HOOK.byteSize());
            MemorySegment opts = arena.allocate(Libbpf.TC_OPTS);
            opts.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, Libbpf.TC_OPTS.byteSize());
            assertEquals(-Errno.EINVAL, lib.tcHookCreate(hook));
            assertEquals(-Errno.EINVAL, lib.tcHookDestroy(hook));
            assertEquals(-Errno.EINVAL, lib.tcAttach(hook, opts));
            assertEquals(-Errno.EINVAL, lib.tcDetach(hook, opts));
        } // closes the object: bpf_object__close, the void result
    }

    @Test
    void pinCallsReturnExactResults() throws Exception {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        LibbpfPins pins = new LibbpfPins(lib);
        Path dir = Path.of("/sys/fs/bpf/shapes-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        Files.createDirectory(dir);
        try (BpfObject o = BpfObject.openEmbedded(lib); BpfObject fresh = BpfObject.openEmbedded(lib)) {
            MemorySegment flows4 = lib.findMap(objectOf(o), BpfObject.MAP_FLOWS4);
            lib.mapSetMaxEntries(flows4, 777);
            LibbpfPins.MapInfo defined = pins.definition(flows4, 777);
            o.load();
            int fd = o.mapFd(BpfObject.MAP_FLOWS4);
            LibbpfPins.MapInfo loaded = pins.mapInfo(fd);
            assertTrue(defined.sameLayout(loaded), defined + " against " + loaded);
            assertEquals(BPF_MAP_TYPE_HASH, loaded.type());
            assertTrue(loaded.id() > 0);

            Path pin = dir.resolve("flows4");
            assertEquals(-Errno.ENOENT, pins.get(pin.toString()), "nothing pinned yet");
            assertEquals(0, pins.pin(fd, pin.toString()));
            assertEquals(-Errno.EEXIST, pins.pin(fd, pin.toString()));
            int again = pins.get(pin.toString());
            assertTrue(again >= 0);
            try {
                assertEquals(loaded.id(), pins.mapInfo(again).id(), "the same map");
                MemorySegment freshFlows4 = lib.findMap(objectOf(fresh), BpfObject.MAP_FLOWS4);
                assertEquals(0, pins.reuseFd(freshFlows4, again));
            } finally {
                Libc.close(again);
            }
            assertEquals(-Errno.EBADF, pins.linkUpdate(-1, -1));
            LibbpfException e = assertThrows(LibbpfException.class, () -> pins.mapInfo(-1));
            assertEquals(EBADFD, e.errno());
        } finally {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    /** The bpf_object pointer of an open BpfObject (its mapHandle's owner is not exposed; reopen to get it). */
    private static MemorySegment objectOf(BpfObject o) throws ReflectiveOperationException {
        java.lang.reflect.Field f = BpfObject.class.getDeclaredField("obj");
        f.setAccessible(true);
        return (MemorySegment) f.get(o);
    }

    @Test
    void libcCallsReturnExactResults() {
        assertEquals(-EAFNOSUPPORT, Libc.socket(12345, 2, 0), "int result with errno");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(16);
            assertEquals(-Errno.EBADF, Libc.bind(-1, buf, 16));
            assertEquals(-Errno.EBADF, Libc.send(-1, buf, 16, 0), "ssize_t result");
            assertEquals(-Errno.EBADF, Libc.recv(-1, buf, 16, 0));
            assertEquals(-Errno.EBADF, Libc.read(-1, buf, 16));
            assertEquals(-Errno.EBADF, Libc.write(-1, buf, 16));
            assertEquals(0, Libc.poll(buf, 0, 0), "no fds, no wait");
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            assertEquals(-Errno.EINVAL, Libc.pipe2(fds, -1), "bad flags");
            assertEquals(0, Libc.pipe2(fds, 0));
            int rd = fds.get(JAVA_INT, 0);
            int wr = fds.getAtIndex(JAVA_INT, 1);
            try {
                buf.fill((byte) 'x');
                assertEquals(16, Libc.write(wr, buf, 16));
                MemorySegment in = arena.allocate(32);
                assertEquals(16, Libc.read(rd, in, 32));
                assertEquals('x', in.get(JAVA_BYTE, 15));
            } finally {
                Libc.close(rd);
                Libc.close(wr);
            }
            assertEquals(-Errno.EBADF, Libc.write(wr, buf, 16), "closed");
        }
        assertEquals(1, Libc.ifNameToIndex("lo"));
        assertEquals(0, Libc.ifNameToIndex("nosuchif0"));
        assertEquals("lo", Libc.ifIndexToName(1));
        assertNull(Libc.ifIndexToName(Integer.MAX_VALUE), "NULL pointer result");
        assertEquals("Bad file descriptor", Libc.strerror(Errno.EBADF));
    }
}
