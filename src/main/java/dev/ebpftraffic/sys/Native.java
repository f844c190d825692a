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

    /** A downcall handle that is linked the first time it is used. */
    public static final class Downcall {
        private final SymbolLookup lookup;
        private final String name;
        private final FunctionDescriptor descriptor;
        private final Function<String, RuntimeException> missing;
        private final Linker.Option[] options;
        private volatile MethodHandle handle;

        private Downcall(SymbolLookup lookup, String name, FunctionDescriptor descriptor,
                         Function<String, RuntimeException> missing, Linker.Option... options) {
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
        return new Downcall(lookup, name, descriptor, missing, options);
    }

    /** A function of the C library, linked on first use. */
    static Downcall libc(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return downcall(LINKER.defaultLookup(), name, descriptor, n -> new IllegalStateException("libc has no " + n), options);
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
