package dev.ebpftraffic.sys;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.function.Function;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What every FFM binding here shares: downcall handles bound on first use (start-up links only the
 * native functions it calls; linking one spins classes and costs milliseconds), the errno capture
 * state, and the one place where a downcall's checked Throwable becomes an unchecked exception.
 */
public final class Native {
    public static final Linker LINKER = Linker.nativeLinker();
    /** Layout of the state a call with {@link #ERRNO_OPTION} writes errno into. */
    public static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    public static final Linker.Option ERRNO_OPTION = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private Native() {
    }

    /** Integer argument registers of the smaller of the two ABIs (x86-64: rdi rsi rdx rcx r8 r9; AArch64 has x0-x7). */
    static final int REGISTER_ARGS = 6;

    /**
     * The descriptor shape of every non-variadic C function bound with {@link #function}: six
     * arguments and the result, each a 64-bit integer (seven for a function of seven arguments). The
     * JDK spins and caches one downcall stub per distinct descriptor and options (tens of classes,
     * 10-25 ms of start-up each, and the LambdaForms of each Java type); with this shape there are three
     * (six words, six words with errno capture, seven words) instead of one per C signature. Exactly
     * equivalent, for the LP64 ABIs this runs on (x86-64 System V, AArch64 AAPCS64), because every
     * argument and result bound this way is of the integer class (pointers, size_t, ssize_t, int,
     * unsigned int, enum, _Bool; no struct, float or double by value):
     * <ul>
     * <li>the first six such arguments go in the registers above in order, each taking a whole 64-bit
     * register whatever its C width, so every argument is where the callee looks for it; a seventh
     * goes in the first 8-byte stack slot (x86-64) or x6 (AArch64), the same whether it is declared
     * 32 or 64 bits wide;
     * <li>for a 32-bit argument the callee reads only the low 32 bits (both ABIs leave the upper bits
     * unspecified), so an int passed sign-extended to a long is the same int; a _Bool is passed as 0 or
     * 1, which also meets the stricter convention clang assumes (zero-extended to 32 bits);
     * <li>the registers after the function's own arguments are argument registers it does not read
     * (caller-saved, no stack involved when the padded call has at most six): the padding zeros are
     * ignored. A call passes exactly the function's arity ({@link Downcall#call} checks it), never fewer;
     * <li>a pointer is passed as its address ({@link #addr}, which refuses what the ADDRESS carrier
     * refuses). ADDRESS would also keep the segment's arena open during the call: every caller passes
     * only segments whose arena stays open across it (confined arenas closed after the call, the
     * readers' shared arenas closed only once their threads have stopped);
     * <li>a result that C declares int (or unsigned int, enum) is in the low 32 bits of rax / x0 with
     * the upper bits unspecified: callers narrow it with {@code (int)} before any test of its sign,
     * which is exact (-errno comes back as the same negative int). A pointer, size_t or ssize_t result
     * is the whole register ({@link #pointer(long)} for pointers). After a void function rax / x0 holds
     * an unspecified value, which the caller ignores.
     * </ul>
     * Variadic functions keep their own descriptors: their convention differs (on x86-64, al carries
     * the number of vector registers used).
     */
    static FunctionDescriptor words(int n) {
        MemoryLayout[] args = new MemoryLayout[n];
        java.util.Arrays.fill(args, JAVA_LONG);
        return FunctionDescriptor.of(JAVA_LONG, args);
    }

    /**
     * A non-variadic C function of arity integer-class arguments (at most seven), linked on first use
     * in the shared shape of {@link #words}; errno: whether its calls capture errno
     * ({@link Downcall#callErrno}).
     */
    public static Downcall function(SymbolLookup lookup, String name, int arity, boolean errno,
                                    Function<String, RuntimeException> missing) {
        if (arity < 0 || arity > REGISTER_ARGS + 1 || errno && arity > 4) {
            throw new IllegalArgumentException(name + ": arity " + arity + (errno ? " with errno" : ""));
        }
        FunctionDescriptor fd = words(arity <= REGISTER_ARGS ? REGISTER_ARGS : arity);
        return new Downcall(lookup, name, fd, missing, arity, errno, errno ? new Linker.Option[]{ERRNO_OPTION} : new Linker.Option[0]);
    }

    /**
     * A pointer argument of a {@link #function} call: the address of a native segment. Refuses what
     * the ADDRESS carrier refuses: a heap segment (its address() is an offset) or one whose arena is closed.
     */
    public static long addr(MemorySegment s) {
        if (!s.isNative()) {
            throw new IllegalArgumentException("heap segment not allowed: " + s);
        }
        if (!s.scope().isAlive()) {
            throw new IllegalStateException("already closed");
        }
        return s.address();
    }

    /** A pointer result of a {@link #function} call, as the linker would return an ADDRESS (zero length). */
    public static MemorySegment pointer(long address) {
        return MemorySegment.ofAddress(address);
    }

    /** A downcall handle that is linked the first time it is used. */
    public static final class Downcall {
        private final SymbolLookup lookup;
        private final String name;
        private final FunctionDescriptor descriptor;
        private final Function<String, RuntimeException> missing;
        private final Linker.Option[] options;
        private volatile MethodHandle handle;
        /** Of a {@link #function}: its C arity and whether it captures errno; -1 for a descriptor of its own. */
        private final int arity;
        private final boolean errno;

        private Downcall(SymbolLookup lookup, String name, FunctionDescriptor descriptor,
                         Function<String, RuntimeException> missing, int arity, boolean errno, Linker.Option... options) {
            this.arity = arity;
            this.errno = errno;
            this.lookup = lookup;
            this.name = name;
            this.descriptor = descriptor;
            this.missing = missing;
            this.options = options;
        }

        public MethodHandle get() {
            MethodHandle h = handle;
            if (h == null) {
                synchronized (this) {
                    h = handle;
                    if (h == null) {
                        MemorySegment symbol = lookup.find(name).orElseThrow(() -> missing.apply(name));
                        h = LINKER.downcallHandle(symbol, descriptor, options);
                        handle = h;
                    }
                }
            }
            return h;
        }

        private MethodHandle checked(int n, boolean withErrno) {
            if (n != arity || withErrno != errno) {
                throw new IllegalArgumentException(name + " takes " + arity + " arguments" + (errno ? " and errno" : "")
                        + ", called with " + n + (withErrno ? " and errno" : ""));
            }
            return get();
        }

        // The calls of a function(...): exactly its arity, padded with zeros to the shared shape.
        public long call() {
            try {
                return (long) checked(0, false).invokeExact(0L, 0L, 0L, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long call(long a) {
            try {
                return (long) checked(1, false).invokeExact(a, 0L, 0L, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long call(long a, long b) {
            try {
                return (long) checked(2, false).invokeExact(a, b, 0L, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long call(long a, long b, long c) {
            try {
                return (long) checked(3, false).invokeExact(a, b, c, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long call(long a, long b, long c, long d) {
            try {
                return (long) checked(4, false).invokeExact(a, b, c, d, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long call(long a, long b, long c, long d, long e, long f, long g) {
            try {
                return (long) checked(7, false).invokeExact(a, b, c, d, e, f, g);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** A call that writes errno into state (a segment of {@link #CAPTURE}). */
        public long callErrno(MemorySegment state, long a) {
            try {
                return (long) checked(1, true).invokeExact(state, a, 0L, 0L, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long callErrno(MemorySegment state, long a, long b) {
            try {
                return (long) checked(2, true).invokeExact(state, a, b, 0L, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long callErrno(MemorySegment state, long a, long b, long c) {
            try {
                return (long) checked(3, true).invokeExact(state, a, b, c, 0L, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        public long callErrno(MemorySegment state, long a, long b, long c, long d) {
            try {
                return (long) checked(4, true).invokeExact(state, a, b, c, d, 0L, 0L);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** Whether the library has the symbol (without linking it). */
        public boolean present() {
            return handle != null || lookup.find(name).isPresent();
        }

        public String name() {
            return name;
        }
    }

    /** A function of lookup, linked on first use; missing(name) is thrown when the library lacks it. */
    public static Downcall downcall(SymbolLookup lookup, String name, FunctionDescriptor descriptor,
                                    Function<String, RuntimeException> missing, Linker.Option... options) {
        return new Downcall(lookup, name, descriptor, missing, -1, false, options);
    }

    /** A function of the C library, linked on first use. */
    static Downcall libc(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return downcall(LINKER.defaultLookup(), name, descriptor, n -> new IllegalStateException("libc has no " + n), options);
    }

    /** A non-variadic function of the C library in the shape of {@link #function}, linked on first use. */
    static Downcall libcFunction(String name, int arity, boolean errno) {
        return function(LINKER.defaultLookup(), name, arity, errno, n -> new IllegalStateException("libc has no " + n));
    }

    /** The errno a call with {@link #ERRNO_OPTION} left in state. */
    public static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    @FunctionalInterface
    public interface Call<T> {
        T call() throws Throwable;
    }

    @FunctionalInterface
    public interface IntCall {
        int call() throws Throwable;
    }

    @FunctionalInterface
    public interface LongCall {
        long call() throws Throwable;
    }

    /** Runs one downcall (written with invokeExact, so its types are checked where it is written). */
    public static <T> T call(Call<T> c) {
        try {
            return c.call();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int callInt(IntCall c) {
        try {
            return c.call();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static long callLong(LongCall c) {
        try {
            return c.call();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Errors and runtime exceptions as they are; anything else (checked) wrapped. */
    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
