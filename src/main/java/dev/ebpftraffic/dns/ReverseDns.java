package dev.ebpftraffic.dns;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Host names for the live view, as iftop shows them: PTR lookups over UDP, asynchronous. {@link #lookup}
 * answers from the cache at once (null while unknown) and at most queues a query; one thread
 * sends the queries and reads the answers. Bounded: the cache by entries, the queries by a rate
 * and each by a timeout, so a dead or slow resolver costs nothing but missing names.
 */
public final class ReverseDns implements AutoCloseable {
    /**
     * @param servers   asked in turn: the next one after a timeout
     * @param maxEntries cache entries at most (least recently shown dropped)
     * @param perSecond queries started per second at most
     * @param timeout   how long to wait for one answer
     */
    public record Settings(List<InetSocketAddress> servers, int maxEntries, int perSecond, Duration timeout,
                           Duration minTtl, Duration maxTtl, Duration negativeTtl, Duration failureTtl) {
        public static final int MAX_ENTRIES = 4096;
        public static final int PER_SECOND = 20;
        public static final Duration TIMEOUT = Duration.ofSeconds(2);

        public static Settings defaults(List<InetSocketAddress> servers) {
            return new Settings(servers, MAX_ENTRIES, PER_SECOND, TIMEOUT, Duration.ofSeconds(30), Duration.ofDays(1),
                    Duration.ofMinutes(5), Duration.ofSeconds(30));
        }
    }

    /** Counters since start, and the cache size now. */
    public record Stats(long queries, long names, long noName, long timeouts, long errors, long rateLimited, int cacheEntries) {
    }

    /** One query in flight. */
    private record Query(String ip, String qname, int id, InetSocketAddress server, long deadline) {
    }

    private final Settings settings;
    private final LongSupplier clock;
    private final Consumer<String> warn;
    private final DnsCache cache;
    private final RateLimit limit;
    private final Object lock = new Object();
    private final Queue<Query> toSend = new ConcurrentLinkedQueue<>();
    private final Map<Integer, Query> inFlight = new HashMap<>(); // the I/O thread's alone
    private final DatagramChannel channel;
    private final Selector selector;
    private final Thread thread;
    private volatile boolean closed;
    private volatile int server; // index of the server asked next
    private final AtomicLong queries = new AtomicLong();
    private final AtomicLong names = new AtomicLong();
    private final AtomicLong noName = new AtomicLong();
    private final AtomicLong timeouts = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong rateLimited = new AtomicLong();

    private ReverseDns(Settings settings, LongSupplier clock, Consumer<String> warn) throws IOException {
        if (settings.servers().isEmpty()) {
            throw new IllegalArgumentException("no DNS server to ask");
        }
        this.settings = settings;
        this.clock = clock;
        this.warn = warn;
        this.cache = new DnsCache(settings.maxEntries(), new DnsCache.Ttls(settings.minTtl().toNanos(),
                settings.maxTtl().toNanos(), settings.negativeTtl().toNanos(), settings.failureTtl().toNanos()));
        this.limit = new RateLimit(settings.perSecond(), clock.getAsLong());
        this.channel = DatagramChannel.open(); // dual stack where the host has IPv6: servers of both families
        try {
            channel.bind(null); // an ephemeral port: the source port is part of what makes a spoofed answer unlikely
            channel.configureBlocking(false);
            this.selector = Selector.open();
            channel.register(selector, SelectionKey.OP_READ);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        this.thread = new Thread(this::run, "reverse-dns");
        thread.setDaemon(true);
    }

    /** Opens the socket and starts the I/O thread. warn: one line per problem worth a log line. */
    public static ReverseDns start(Settings settings, Consumer<String> warn) throws IOException {
        ReverseDns r = new ReverseDns(settings, System::nanoTime, warn);
        r.thread.start();
        return r;
    }

    /**
     * The host name of ip as far as known now, or null (none, not yet known, not an address). Never
     * waits: a lookup that is due is queued for the I/O thread, within the rate.
     */
    public String lookup(String ip) {
        if (closed || ip == null) {
            return null;
        }
        long now = clock.getAsLong();
        Query q = null;
        String name;
        synchronized (lock) {
            name = cache.name(ip);
            if (!cache.needsLookup(ip, now)) {
                return name;
            }
            InetAddress a = literal(ip);
            if (a == null) {
                return null;
            }
            if (!limit.tryAcquire(now)) {
                rateLimited.incrementAndGet();
                return name;
            }
            cache.pending(ip);
            List<InetSocketAddress> servers = settings.servers();
            q = new Query(ip, DnsMessage.ptrName(a), ThreadLocalRandom.current().nextInt(0x10000),
                    servers.get(Math.floorMod(server, servers.size())), now + settings.timeout().toNanos());
        }
        toSend.add(q);
        selector.wakeup();
        return name;
    }

    /** An IP literal (never a lookup), or null for anything else ("other", a CIDR group's name, ::). */
    static InetAddress literal(String ip) {
        if (ip.isEmpty() || ip.length() > 45 || !ip.chars().allMatch(c -> c == '.' || c == ':'
                || c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
            return null;
        }
        if (ip.indexOf(':') < 0 && ip.chars().filter(c -> c == '.').count() != 3) {
            return null; // ofLiteral takes "1" and "10.1" too (inet_aton forms): a group's name, not an address
        }
        try {
            InetAddress a = InetAddress.ofLiteral(ip);
            return a.isAnyLocalAddress() ? null : a;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    public Stats stats() {
        int size;
        synchronized (lock) {
            size = cache.size();
        }
        return new Stats(queries.get(), names.get(), noName.get(), timeouts.get(), errors.get(), rateLimited.get(), size);
    }

    private void run() {
        ByteBuffer in = ByteBuffer.allocate(65535);
        while (!closed) {
            try {
                long wait = nextDeadline() - clock.getAsLong();
                selector.select(Math.max(1, Math.min(1000, wait / 1_000_000 + 1)));
                selector.selectedKeys().clear();
                send();
                receive(in);
                expire();
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    warn.accept("reverse DNS: " + e);
                    sleep();
                }
            }
        }
    }

    private long nextDeadline() {
        long next = clock.getAsLong() + 1_000_000_000L;
        for (Query q : inFlight.values()) {
            next = Math.min(next, q.deadline());
        }
        return next;
    }

    private void send() {
        Query q;
        while ((q = toSend.poll()) != null) {
            while (inFlight.containsKey(q.id())) {
                q = new Query(q.ip(), q.qname(), (q.id() + 1) & 0xffff, q.server(), q.deadline());
            }
            queries.incrementAndGet();
            try {
                if (channel.send(ByteBuffer.wrap(DnsMessage.query(q.id(), q.qname())), q.server()) == 0) {
                    throw new IOException("socket buffer full");
                }
                inFlight.put(q.id(), q);
            } catch (IOException e) {
                errors.incrementAndGet();
                synchronized (lock) {
                    cache.failed(q.ip(), clock.getAsLong());
                }
            }
        }
    }

    private void receive(ByteBuffer in) throws IOException {
        SocketAddress from;
        while (true) {
            in.clear();
            from = channel.receive(in);
            if (from == null) {
                return;
            }
            byte[] m = in.array();
            int len = in.position();
            Query q;
            DnsMessage.Answer a;
            try {
                q = inFlight.get(DnsMessage.id(m, len));
                // Only an answer from the server asked, to the question asked, counts; anything else is dropped.
                if (q == null || !sameAddress(from, q.server())) {
                    continue;
                }
                a = DnsMessage.parse(m, len, q.qname());
            } catch (DnsMessage.Malformed e) {
                continue;
            }
            inFlight.remove(q.id());
            long now = clock.getAsLong();
            synchronized (lock) {
                if (a.rcode() == DnsMessage.RCODE_OK && a.name() != null) {
                    names.incrementAndGet();
                    cache.answered(q.ip(), a.name(), a.ttlSeconds(), now);
                } else if (a.rcode() == DnsMessage.RCODE_OK || a.rcode() == DnsMessage.RCODE_NXDOMAIN) {
                    noName.incrementAndGet();
                    cache.answered(q.ip(), null, a.ttlSeconds(), now);
                } else {
                    errors.incrementAndGet();
                    cache.failed(q.ip(), now);
                }
            }
        }
    }

    private static boolean sameAddress(SocketAddress from, InetSocketAddress server) {
        if (!(from instanceof InetSocketAddress f) || f.getPort() != server.getPort()) {
            return false;
        }
        return f.getAddress().equals(server.getAddress());
    }

    private void expire() {
        long now = clock.getAsLong();
        List<Query> late = new ArrayList<>();
        for (Iterator<Query> it = inFlight.values().iterator(); it.hasNext(); ) {
            Query q = it.next();
            if (now - q.deadline() >= 0) {
                late.add(q);
                it.remove();
            }
        }
        if (late.isEmpty()) {
            return;
        }
        timeouts.addAndGet(late.size());
        server++; // the next query goes to the next server, if there is one
        synchronized (lock) {
            for (Query q : late) {
                cache.failed(q.ip(), now);
            }
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            selector.close();
        } catch (IOException e) {
            // closing anyway
        }
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
