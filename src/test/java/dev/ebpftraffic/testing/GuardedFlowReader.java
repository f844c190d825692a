package dev.ebpftraffic.testing;

import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.FlowReader;
import dev.ebpftraffic.flow.StatKey;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * A reader that closes like the real one (whose arena and map fds are gone after close) and
 * records every misuse instead of crashing: a call after {@link #close}, and a close while a call
 * runs. Each call can be slowed down so that a race has a window to happen in.
 */
public final class GuardedFlowReader implements FlowReader, AutoCloseable {
    private final FlowReader delegate;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong calls = new AtomicLong();
    private volatile boolean closed;
    /** Time each call spends inside the reader, to widen the window of a race. */
    public volatile long callNanos;
    /** What went wrong, one line each (the first 10); empty when the reader was never misused. */
    public final List<String> misuse = new CopyOnWriteArrayList<>();

    public GuardedFlowReader(FlowReader delegate) {
        this.delegate = delegate;
    }

    /** Calls that reached the reader so far. */
    public long calls() {
        return calls.get();
    }

    public boolean isClosed() {
        return closed;
    }

    private <T> T use(String what, Supplier<T> body) {
        inFlight.incrementAndGet();
        try {
            calls.incrementAndGet();
            if (closed) {
                record(what + " after close, on thread " + Thread.currentThread().getName());
            }
            long until = System.nanoTime() + callNanos;
            while (System.nanoTime() - until < 0) {
                Thread.onSpinWait();
            }
            return body.get();
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private void record(String line) {
        if (misuse.size() < 10) {
            misuse.add(line);
        }
    }

    @Override
    public void readFlows(Sink<FlowKey> sink) {
        use("readFlows", () -> {
            delegate.readFlows(sink);
            return null;
        });
    }

    @Override
    public void readStats(Sink<StatKey> sink) {
        use("readStats", () -> {
            delegate.readStats(sink);
            return null;
        });
    }

    @Override
    public boolean drainFlow(FlowKey key, Sink<FlowKey> sink) {
        return use("drainFlow", () -> delegate.drainFlow(key, sink));
    }

    @Override
    public boolean drainStat(StatKey key, Sink<StatKey> sink) {
        return use("drainStat", () -> delegate.drainStat(key, sink));
    }

    @Override
    public int flowCapacity() {
        return delegate.flowCapacity(); // a field of the real reader, read after close too
    }

    @Override
    public void close() {
        if (inFlight.get() > 0) {
            record("closed while " + inFlight.get() + " call(s) ran");
        }
        closed = true;
    }
}
