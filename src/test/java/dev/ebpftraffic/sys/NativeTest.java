package dev.ebpftraffic.sys;

import org.junit.jupiter.api.Test;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Downcalls are linked on first use, once; a missing symbol is reported then, with the binding's message. */
class NativeTest {
    @Test
    void aDowncallIsLinkedOnFirstUseOnly() throws Throwable {
        AtomicInteger lookups = new AtomicInteger();
        Native.Downcall getpid = Native.downcall(name -> {
            lookups.incrementAndGet();
            return Linker.nativeLinker().defaultLookup().find(name);
        }, "getpid", FunctionDescriptor.of(JAVA_INT), n -> new IllegalStateException("no " + n));
        assertEquals(0, lookups.get(), "nothing looked up or linked when bound");
        int pid = Native.callInt(() -> (int) getpid.get().invokeExact());
        assertEquals(ProcessHandle.current().pid(), pid);
        assertSame(getpid.get(), getpid.get());
        assertEquals(1, lookups.get(), "linked once");
    }

    @Test
    void aMissingSymbolFailsAtItsFirstUseWithTheBindingsMessage() {
        Native.Downcall missing = Native.downcall(name -> java.util.Optional.<MemorySegment>empty(), "no_such_function",
                FunctionDescriptor.of(JAVA_INT), n -> new IllegalStateException("the library has no " + n));
        assertFalse(missing.present());
        IllegalStateException e = assertThrows(IllegalStateException.class, missing::get);
        assertEquals("the library has no no_such_function", e.getMessage());
        assertTrue(Native.libc("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT)).present());
    }

    @Test
    void libcCallsReturnMinusErrno() {
        assertEquals(-Errno.EBADF, (int) Libc.write(-1, MemorySegment.NULL, 0));
        assertEquals("Bad file descriptor", Libc.strerror(Errno.EBADF));
    }
}
