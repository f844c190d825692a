package dev.ebpftraffic.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Runs code on a fresh platform thread that has joined a named network namespace with setns(2).
 * Only that thread moves; sockets it creates belong to the namespace for their whole life, so they
 * may be used from any thread afterwards. The thread ends with the call and is never reused.
 */
public final class Setns {
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = handle("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETNS = handle("setns", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));

    private Setns() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), fd,
                Linker.Option.captureCallState("errno"));
    }

    /** Runs task in network namespace ns (a name under /var/run/netns) and returns its result. */
    public static <T> T call(String ns, Callable<T> task) {
        FutureTask<T> future = new FutureTask<>(() -> {
            enter(ns);
            return task.call();
        });
        Thread t = Thread.ofPlatform().name("netns-" + ns).daemon(true).start(future);
        try {
            return future.get();
        } catch (InterruptedException e) {
            t.interrupt();
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted in netns " + ns, e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("in netns " + ns + ": " + c, c);
        }
    }

    /** Runs task in ns for its side effects. */
    public static void run(String ns, ThrowingRunnable task) {
        call(ns, () -> {
            task.run();
            return null;
        });
    }

    /** A Runnable that may throw. */
    @FunctionalInterface
    public interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static void enter(String ns) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            String path = "/var/run/netns/" + ns;
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                throw new IllegalStateException("open " + path + ": errno " + (int) ERRNO.get(state, 0L));
            }
            int r = (int) SETNS.invokeExact(state, fd, CLONE_NEWNET);
            int errno = (int) ERRNO.get(state, 0L);
            int ignored = (int) CLOSE.invokeExact(state, fd);
            if (r != 0) {
                throw new IllegalStateException("setns " + path + ": errno " + errno);
            }
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
