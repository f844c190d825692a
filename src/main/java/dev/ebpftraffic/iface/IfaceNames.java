package dev.ebpftraffic.iface;

import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntFunction;
import java.util.function.LongSupplier;

/**
 * ifindex -> interface name, as the iface label shows it. The attach manager records a name
 * before it attaches, so every kernel key of an attached interface resolves. When an interface is
 * gone its name is kept for a while (its last counts are drained under it first), then forgotten.
 * Thread-safe: the manager writes, the collector reads.
 */
public final class IfaceNames implements IntFunction<String> {
    /** How long the name of an ifindex that is gone stays resolvable. */
    static final long KEEP_GONE_NANOS = 10L * 60 * 1_000_000_000L;

    private record Gone(String name, long since) {
    }

    private final Map<Integer, String> live = new ConcurrentHashMap<>();
    private final Map<Integer, Gone> gone = new ConcurrentHashMap<>();
    private final IntFunction<String> fallback;
    private final LongSupplier clock;

    /** @param fallback names an ifindex nobody recorded (e.g. if_indextoname), or returns null */
    public IfaceNames(IntFunction<String> fallback) {
        this(fallback, System::nanoTime);
    }

    IfaceNames(IntFunction<String> fallback, LongSupplier clock) {
        this.fallback = fallback;
        this.clock = clock;
    }

    /**
     * An interface name from the kernel (bytes; Linux allows any but NUL, '/' and whitespace) as a
     * label: UTF-8 as it is, each byte that is not part of valid UTF-8 as \xHH. So n\xff and n\xfe
     * stay two interfaces with two stable labels, instead of both becoming n\uFFFD.
     */
    public static String decode(byte[] b, int len) {
        return dev.ebpftraffic.sys.Libc.decodeName(b, len);
    }

    public void put(int ifindex, String name) {
        gone.remove(ifindex);
        live.put(ifindex, name);
    }

    /** The ifindex is gone: its name stays resolvable for a while, then is forgotten. */
    public void gone(int ifindex) {
        String name = live.remove(ifindex);
        long now = clock.getAsLong();
        if (name != null) {
            gone.put(ifindex, new Gone(name, now));
        }
        for (Iterator<Gone> it = gone.values().iterator(); it.hasNext(); ) {
            if (now - it.next().since() > KEEP_GONE_NANOS) {
                it.remove();
            }
        }
    }

    @Override
    public String apply(int ifindex) {
        String n = live.get(ifindex);
        if (n != null) {
            return n;
        }
        Gone g = gone.get(ifindex);
        if (g != null) {
            return g.name();
        }
        n = fallback.apply(ifindex);
        return n != null ? n : "ifindex" + ifindex;
    }

    /** Number of names held (live and gone), for tests. */
    int size() {
        return live.size() + gone.size();
    }
}
