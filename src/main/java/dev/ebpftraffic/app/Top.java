package dev.ebpftraffic.app;

import dev.ebpftraffic.cli.ControlChars;
import dev.ebpftraffic.cli.Durations;
import dev.ebpftraffic.cli.Flags;
import dev.ebpftraffic.app.Exporter;
import dev.ebpftraffic.cli.Log;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.cli.ReverseDnsOptions;
import dev.ebpftraffic.cli.UsageException;
import dev.ebpftraffic.live.LiveJson;
import dev.ebpftraffic.live.LiveView;
import dev.ebpftraffic.live.ProcessJson;
import dev.ebpftraffic.live.ProcessQuery;
import dev.ebpftraffic.live.ProcessSnapshot;
import dev.ebpftraffic.live.Query;
import dev.ebpftraffic.live.Snapshot;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * `ebpf-traffic-exporter top`: the live view full-screen in the terminal, like iftop. It attaches
 * by itself (--iface and the exporter's flags; no HTTP endpoint is opened) or reads a running
 * exporter's /api/v1/top (--from URL). Keys sort, filter and quit; the terminal is restored on
 * quit and on Ctrl-C.
 */
public final class Top {
    public static final String USAGE = """
            usage: ebpf-traffic-exporter top --iface NAME [exporter flags]
                   ebpf-traffic-exporter top --from URL [--insecure] [--ca-file FILE]

            iftop in the terminal: who is talking right now, with rates over 2 s, 10 s and 40 s.

              --iface NAME        attach to NAME by itself (needs root or CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON);
                                  --max-series, --map-size, --config.file, --attach-mode, --libbpf-path,
                                  --live.reverse-dns and --live.dns-server apply
              --from URL          read a running exporter instead, e.g. http://127.0.0.1:9091/
                                  (basic auth: https://user:password@host:9091/)
              --insecure          with https: do not check the server's certificate
              --ca-file FILE      with https: trust the CA certificates in FILE (PEM)
              --interval DURATION how often to redraw (default 1s, at least 200ms)
              --sort KEY          bits_2s, bits_10s (default), bits_40s, packets_2s, packets_10s, packets_40s, bytes

            keys: q quit · v next view (pairs, workloads, processes) · 1 2 3 sort by the 2 s, 10 s, 40 s rate
                  p sort by packets/s or bits/s · b sort by bytes · r reverse · d direction · t ip_type
                  i interface · / filter by IP, workload, or command/pid (Enter, Esc) · c clear filters
            """;

    /**
     * The views `v` cycles through, in this order (then back to the first). A view is an API of the
     * live view and a screen for it; adding one here puts it in the cycle.
     */
    enum TopView {
        PAIRS("pairs"),
        WORKLOADS("workloads"),
        PROCESSES("processes");

        final String label;

        TopView(String label) {
            this.label = label;
        }

        TopView next() {
            TopView[] all = values();
            return all[(ordinal() + 1) % all.length];
        }
    }

    /** Where the snapshots come from. */
    interface Source {
        Snapshot fetch(Query q) throws IOException, InterruptedException;

        /** The Workloads view (/api/v1/workloads). */
        dev.ebpftraffic.live.WorkloadSnapshot fetchWorkloads(dev.ebpftraffic.live.WorkloadQuery q)
                throws IOException, InterruptedException;
        /** The Processes view (GET /api/v1/processes). */
        ProcessSnapshot processes(ProcessQuery q) throws IOException, InterruptedException;

        String describe();
    }

    private Top() {
    }

    /** Runs top; returns the exit code (0, 1 for a failure, 2 for bad flags). */
    public static int run(String[] args) {
        String from = null;
        boolean insecure = false;
        String caFile = null;
        Duration interval = Duration.ofSeconds(1);
        Query.Sort sort = Query.Sort.BITS_10S;
        List<String> exporterArgs = new ArrayList<>();
        boolean local = false;
        Options options = null;
        ReverseDnsOptions dns;
        try {
            dns = ReverseDnsOptions.extract(List.of(args), "top --help");
            Flags flags = new Flags(dns.rest().toArray(String[]::new), "top --help");
            while (flags.next()) {
                switch (flags.name()) {
                    case "-h", "--help" -> {
                        System.out.print(USAGE);
                        return 0;
                    }
                    case "--from" -> from = flags.value();
                    case "--insecure" -> insecure = true;
                    case "--ca-file" -> caFile = flags.value();
                    case "--interval" -> {
                        interval = Durations.parse("--interval", flags.value());
                        if (interval.compareTo(Duration.ofMillis(200)) < 0) {
                            throw new UsageException("invalid --interval: at least 200ms");
                        }
                    }
                    case "--sort" -> {
                        String v = flags.value();
                        sort = Query.Sort.of(v);
                        if (sort == null) {
                            throw new UsageException("invalid --sort \"" + v + "\": use one of " + Query.Sort.names());
                        }
                    }
                    default -> { // the exporter's flags, with their values, for Options
                        exporterArgs.add(flags.arg());
                        local |= flags.name().equals("--iface");
                        if (!flags.hasInlineValue() && Options.takesValue(flags.name())) {
                            exporterArgs.add(flags.value());
                        }
                    }
                }
            }
            if (from == null && !local) {
                throw new UsageException("top needs --iface NAME (attach here) or --from URL (read a running exporter), see top --help");
            }
            if (from != null && dns.rest().size() != args.length) {
                throw new UsageException("with --from, the host names come from the exporter: its --live.reverse-dns and "
                        + "--live.dns-server apply, not top's");
            }
            if (from != null && !exporterArgs.isEmpty()) {
                throw new UsageException("with --from, top takes only --insecure, --ca-file, --interval and --sort; got "
                        + exporterArgs.getFirst());
            }
            if (from == null) { // bad exporter flags are reported before anything else, terminal or not
                options = Options.parse(exporterArgs.toArray(String[]::new));
            }
        } catch (UsageException e) {
            System.err.println("ebpf-traffic-exporter top: " + ControlChars.escape(e.getMessage()));
            return 2;
        }
        if (System.console() == null || !System.console().isTerminal()) {
            System.err.println("ebpf-traffic-exporter top: needs a terminal (stdin and stdout a tty); use /api/v1/top for scripts");
            return 2;
        }

        Exporter exporter = null;
        Source source;
        Query query = Query.defaults().withSort(sort);
        try {
            if (from != null) {
                source = new HttpSource(from, insecure, caFile == null ? null : Path.of(caFile));
            } else {
                Options o = options;
                Log.setLevel(Log.Level.WARN); // a log line would scribble over the screen
                Log.setFormat(o.logFormat());
                Exporter e = Exporter.start(o, false, null, dns);
                exporter = e;
                source = new Source() {
                    @Override
                    public Snapshot fetch(Query q) {
                        return e.live().query(q);
                    }

                    @Override
                    public dev.ebpftraffic.live.WorkloadSnapshot fetchWorkloads(dev.ebpftraffic.live.WorkloadQuery q)
                            throws IOException {
                        if (!e.live().hasWorkloads()) {
                            throw new IOException("per-workload traffic is off (--workloads off, or no usable cgroup v2)");
                        }
                        return e.live().queryWorkloads(q);
                    }

                    @Override
                    public ProcessSnapshot processes(ProcessQuery q) throws IOException {
                        ProcessSnapshot s = e.live().processes(q);
                        if (s == null) {
                            throw new IOException("per-process traffic is off (it needs cgroup v2 and --workloads auto)");
                        }
                        return s;
                    }

                    @Override
                    public String describe() {
                        return "attached to " + o.iface();
                    }
                };
            }
            source.fetch(query.withN(1)); // fail here, before the screen changes, on a bad URL or password
        } catch (UsageException e) {
            System.err.println("ebpf-traffic-exporter top: " + ControlChars.escape(e.getMessage()));
            return 2;
        } catch (IOException | RuntimeException e) {
            if (exporter != null) {
                exporter.close();
            }
            System.err.println("ebpf-traffic-exporter top: " + ControlChars.escape(e.getMessage()));
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
        return loop(source, query, interval, exporter);
    }

    private static int loop(Source source, Query query, Duration interval, Exporter exporter) {
        Terminal term;
        try {
            term = Terminal.open();
        } catch (IOException e) {
            if (exporter != null) {
                exporter.close();
            }
            System.err.println("ebpf-traffic-exporter top: cannot set up the terminal: " + e.getMessage());
            return 1;
        }
        Thread hook = new Thread(() -> {
            term.restore();
            if (exporter != null) {
                exporter.close();
            }
        }, "top-restore");
        Runtime.getRuntime().addShutdownHook(hook); // Ctrl-C (SIGINT), SIGTERM, SIGHUP
        BlockingQueue<Integer> keys = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            InputStream in = term.keys();
            byte[] buf = new byte[64];
            try {
                int n;
                while ((n = in.read(buf)) > 0) {
                    for (int i = 0; i < n; i++) {
                        keys.add(buf[i] & 0xff);
                    }
                }
            } catch (IOException e) {
                // terminal gone
            }
            keys.add(-1);
        }, "top-keys");
        reader.setDaemon(true);
        reader.start();

        Keys state = new Keys(query);
        Object snap = null; // a Snapshot, WorkloadSnapshot or ProcessSnapshot, as state.view says
        String error = null;
        long next = 0;
        boolean refetch = true;
        try {
            screen:
            while (true) {
                int[] size = term.size();
                long now = System.nanoTime();
                if (refetch || now >= next) {
                    // On its own thread, so that q works while a slow server is being read.
                    Query q = state.query.withN(Math.min(Query.MAX_N, TopScreen.rowsFor(size[0])));
                    dev.ebpftraffic.live.WorkloadQuery wq = state.workloadQuery(q.n());
                    ProcessQuery pq = state.processQuery.withN(q.n());
                    TopView view = state.view;
                    java.util.concurrent.FutureTask<Object> task = new java.util.concurrent.FutureTask<>(() -> switch (view) {
                        case WORKLOADS -> source.fetchWorkloads(wq);
                        case PROCESSES -> source.processes(pq);
                        case PAIRS -> source.fetch(q);
                    });
                    Thread.ofVirtual().name("top-fetch").start(task);
                    while (true) {
                        try {
                            snap = task.get(50, TimeUnit.MILLISECONDS);
                            error = null;
                            break;
                        } catch (java.util.concurrent.TimeoutException e) {
                            Integer k = keys.peek();
                            if (k != null && state.editing == null && (k == 'q' || k == 'Q' || k == 3 || k == -1)) {
                                task.cancel(true);
                                break screen;
                            }
                        } catch (java.util.concurrent.ExecutionException e) {
                            Throwable c = e.getCause();
                            if (c instanceof Error && !(c instanceof StackOverflowError)) {
                                throw (Error) c;
                            }
                            error = "cannot read: " + c.getMessage();
                            break;
                        }
                    }
                    next = System.nanoTime() + interval.toNanos();
                    refetch = false;
                }
                if (snap instanceof Snapshot pairs) {
                    state.ifaces = pairs.ifaces();
                }
                TopScreen.View shown = new TopScreen.View(state.query, source.describe(), state.editing, error,
                        state.view.label, state.workloadFilter);
                term.draw(switch (state.view) {
                    case WORKLOADS -> TopWorkloads.render(snap instanceof dev.ebpftraffic.live.WorkloadSnapshot w ? w : null,
                            shown, size[1], size[0]);
                    case PROCESSES -> ProcessScreen.render(snap instanceof ProcessSnapshot p ? p : null,
                            new ProcessScreen.View(state.processQuery, source.describe(), state.editing, error), size[1], size[0]);
                    case PAIRS -> TopScreen.render(snap instanceof Snapshot p ? p : null, shown, size[1], size[0]);
                });
                Integer k = keys.poll(Math.max(1, next - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (k == null) {
                    continue;
                }
                if (k == -1) {
                    break;
                }
                if (k == 27) { // Esc, or the start of an escape sequence (arrows): swallow the sequence
                    Integer n = keys.poll(20, TimeUnit.MILLISECONDS);
                    if (n != null && (n == '[' || n == 'O')) {
                        Integer x;
                        do {
                            x = keys.poll(20, TimeUnit.MILLISECONDS);
                        } while (x != null && (x < 0x40 || x > 0x7e));
                        continue;
                    }
                    if (n != null) {
                        keys.add(n); // not a sequence: handle it after the Esc
                    }
                }
                Query before = state.query;
                ProcessQuery beforeProcesses = state.processQuery;
                TopView viewBefore = state.view;
                String filterBefore = state.workloadFilter;
                if (!state.key(k)) {
                    break;
                }
                if (state.view != viewBefore) {
                    snap = null; // the other view's data: not drawn as this one's
                    error = null;
                }
                refetch = !state.query.equals(before) || state.view != viewBefore
                        || !state.processQuery.equals(beforeProcesses)
                        || !java.util.Objects.equals(filterBefore, state.workloadFilter);
            }
        } catch (IOException e) {
            error = e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            term.restore();
            if (exporter != null) {
                exporter.close();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // already shutting down
            }
        }
        return 0;
    }

    /** What the keys change. */
    static final class Keys {
        /** Peers shown per row in the Workloads view. */
        static final int PEERS = 3;
        Query query;
        ProcessQuery processQuery;
        String editing; // the IP (Workloads view: workload; Processes view: command/pid) filter being typed, or null
        List<String> ifaces = List.of();
        TopView view = TopView.PAIRS;
        String workloadFilter; // the Workloads view's text filter, or null

        Keys(Query query) {
            this.query = query;
            this.processQuery = ProcessQuery.defaults().withSort(query.sort());
        }

        /** The Workloads view's query: the same sort, order, direction and ip_type as the pairs. */
        dev.ebpftraffic.live.WorkloadQuery workloadQuery(int n) {
            return new dev.ebpftraffic.live.WorkloadQuery(n, query.sort(), query.ascending(), query.direction(),
                    query.ipType(), workloadFilter, PEERS);
        }

        /** Applies a key; false to quit. */
        boolean key(int k) {
            if (k == 'v' && editing == null) {
                view = view.next();
                return true;
            }
            if (view == TopView.PROCESSES) {
                return processKey(k);
            }
            if (editing != null) {
                switch (k) {
                    case '\r', '\n' -> {
                        if (view == TopView.WORKLOADS) {
                            String f = editing.strip().toLowerCase(java.util.Locale.ROOT);
                            workloadFilter = f.isEmpty() ? null : f;
                        } else {
                            query = query.withIp(editing.strip());
                        }
                        editing = null;
                    }
                    case 27 -> editing = null;
                    case 127, 8 -> editing = editing.isEmpty() ? "" : editing.substring(0, editing.length() - 1);
                    default -> {
                        int max = view == TopView.WORKLOADS ? dev.ebpftraffic.live.WorkloadQuery.MAX_WORKLOAD : Query.MAX_IP;
                        if (k >= 0x20 && k < 0x7f && editing.length() < max) {
                            editing += (char) k;
                        }
                    }
                }
                return true;
            }
            switch (k) {
                case 'q', 'Q', 3 -> {
                    return false;
                }
                case 'v' -> view = view.next();
                case '1', '2', '3', 'p', 'b' -> query = query.withSort(sortKey(query.sort(), k));
                case 'r' -> query = new Query(query.n(), query.sort(), !query.ascending(), query.direction(),
                        query.ipType(), query.iface(), query.ip());
                case 'd' -> query = query.withDirection(next(query.direction(), List.of("inbound", "outbound")));
                case 't' -> query = query.withIpType(next(query.ipType(), List.of("private", "public")));
                case 'i' -> {
                    if (view == TopView.PAIRS) { // workloads have no interface
                        query = query.withIface(next(query.iface(), ifaces));
                    }
                }
                case '/' -> editing = view == TopView.WORKLOADS ? (workloadFilter == null ? "" : workloadFilter)
                        : query.ip() == null ? "" : query.ip();
                case 'c' -> {
                    query = new Query(query.n(), query.sort(), query.ascending(), null, null, null, null);
                    workloadFilter = null;
                }
                default -> {
                    // unknown keys do nothing
                }
            }
            return true;
        }

        /** The Processes view's keys: the same sort, order and direction keys; / filters by command, pid or workload. */
        private boolean processKey(int k) {
            if (editing != null) {
                switch (k) {
                    case '\r', '\n' -> {
                        processQuery = processQuery.withFilter(editing.strip());
                        editing = null;
                    }
                    case 27 -> editing = null;
                    case 127, 8 -> editing = editing.isEmpty() ? "" : editing.substring(0, editing.length() - 1);
                    default -> {
                        if (k >= 0x20 && k < 0x7f && editing.length() < Query.MAX_IP) {
                            editing += (char) k;
                        }
                    }
                }
                return true;
            }
            switch (k) {
                case 'q', 'Q', 3 -> {
                    return false;
                }
                case '1', '2', '3', 'p', 'b' -> processQuery = processQuery.withSort(sortKey(processQuery.sort(), k));
                case 'r' -> processQuery = processQuery.reversed();
                case 'd' -> processQuery = processQuery.withDirection(next(processQuery.direction(), List.of("inbound", "outbound")));
                case '/' -> editing = processQuery.filter() == null ? "" : processQuery.filter();
                case 'c' -> processQuery = new ProcessQuery(processQuery.n(), processQuery.sort(), processQuery.ascending(), null, null);
                default -> {
                    // unknown keys do nothing
                }
            }
            return true;
        }

        /** The sort keys 1, 2, 3 (window, keeping bits or packets), p (bits or packets), b (bytes). */
        static Query.Sort sortKey(Query.Sort s, int k) {
            boolean packets = switch (s) {
                case PACKETS_2S, PACKETS_10S, PACKETS_40S, PACKETS -> true;
                default -> false;
            };
            return switch (k) {
                case '1' -> packets ? Query.Sort.PACKETS_2S : Query.Sort.BITS_2S;
                case '2' -> packets ? Query.Sort.PACKETS_10S : Query.Sort.BITS_10S;
                case '3' -> packets ? Query.Sort.PACKETS_40S : Query.Sort.BITS_40S;
                case 'p' -> switch (s) {
                    case BITS_2S -> Query.Sort.PACKETS_2S;
                    case BITS_10S -> Query.Sort.PACKETS_10S;
                    case BITS_40S -> Query.Sort.PACKETS_40S;
                    case PACKETS_2S -> Query.Sort.BITS_2S;
                    case PACKETS_10S -> Query.Sort.BITS_10S;
                    case PACKETS_40S -> Query.Sort.BITS_40S;
                    case BYTES -> Query.Sort.PACKETS;
                    case PACKETS -> Query.Sort.BYTES;
                };
                case 'b' -> Query.Sort.BYTES;
                default -> s;
            };
        }

        /** null (all) -> first -> ... -> last -> null. */
        static String next(String current, List<String> values) {
            if (values.isEmpty()) {
                return null;
            }
            int i = current == null ? -1 : values.indexOf(current);
            return i + 1 >= values.size() ? null : values.get(i + 1);
        }
    }

    /** A running exporter's /api/v1/top over HTTP or HTTPS, with basic auth from the URL. */
    static final class HttpSource implements Source {
        /** The largest answer read: a full page of rows with sparklines is well under 1 MiB. */
        static final int MAX_BODY = 16 << 20;
        /** The time for a whole answer, headers and body. */
        static final Duration FETCH_TIME = Duration.ofSeconds(5);
        private static final java.util.concurrent.ScheduledExecutorService CANCEL =
                java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "top-fetch-deadline");
                    t.setDaemon(true);
                    return t;
                });

        private final HttpClient client;
        private final URI api;
        private final URI workloadsApi;
        private final URI processesApi;
        private final String authorization;
        private final String shown;

        HttpSource(String url, boolean insecure, Path caFile) throws IOException {
            URI u;
            try {
                u = new URI(url);
            } catch (URISyntaxException e) {
                throw new UsageException("invalid --from \"" + url + "\": " + e.getReason());
            }
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
                throw new UsageException("invalid --from \"" + url + "\": use http://HOST:PORT/ or https://HOST:PORT/");
            }
            String path = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
            if (!path.endsWith(LiveView.TOP)) {
                path = (path.endsWith("/") ? path : path + "/") + LiveView.TOP.substring(1);
            }
            try {
                api = new URI(u.getScheme(), null, u.getHost(), u.getPort(), null, null, null).resolve(path);
            } catch (URISyntaxException e) {
                throw new UsageException("invalid --from \"" + url + "\": " + e.getReason());
            }
            workloadsApi = api.resolve(LiveView.WORKLOADS.substring(LiveView.WORKLOADS.lastIndexOf('/') + 1));
            processesApi = api.resolve(LiveView.PROCESSES.substring(LiveView.PROCESSES.lastIndexOf('/') + 1));
            String info = u.getRawUserInfo();
            authorization = info == null ? null : "Basic " + Base64.getEncoder().encodeToString(
                    java.net.URLDecoder.decode(info, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8));
            shown = api.getScheme() + "://" + api.getAuthority() + "/";
            HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3));
            if (api.getScheme().equals("https")) {
                b.sslContext(tls(insecure, caFile));
            }
            client = b.build();
        }

        private static SSLContext tls(boolean insecure, Path caFile) throws IOException {
            try {
                SSLContext ctx = SSLContext.getInstance("TLS");
                if (insecure) {
                    System.setProperty("jdk.internal.httpclient.disableHostnameVerification", "true");
                    ctx.init(null, new TrustManager[] {new X509TrustManager() {
                        @Override
                        public void checkClientTrusted(X509Certificate[] chain, String authType) {
                        }

                        @Override
                        public void checkServerTrusted(X509Certificate[] chain, String authType) {
                        }

                        @Override
                        public X509Certificate[] getAcceptedIssuers() {
                            return new X509Certificate[0];
                        }
                    }}, null);
                } else if (caFile != null) {
                    KeyStore ks = KeyStore.getInstance("PKCS12");
                    ks.load(null, null);
                    int n = 0;
                    try (InputStream in = Files.newInputStream(caFile)) {
                        for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                            ks.setCertificateEntry("ca" + n++, c);
                        }
                    }
                    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                    tmf.init(ks);
                    ctx.init(null, tmf.getTrustManagers(), null);
                } else {
                    return SSLContext.getDefault();
                }
                return ctx;
            } catch (IOException e) {
                throw new IOException("cannot read --ca-file " + caFile + ": " + e.getMessage(), e);
            } catch (java.security.GeneralSecurityException e) {
                throw new IOException("TLS set-up failed: " + e.getMessage(), e);
            }
        }

        @Override
        public Snapshot fetch(Query q) throws IOException, InterruptedException {
            return get(api, q.toParams(), LiveJson::read);
        }

        @Override
        public dev.ebpftraffic.live.WorkloadSnapshot fetchWorkloads(dev.ebpftraffic.live.WorkloadQuery q)
                throws IOException, InterruptedException {
            return get(workloadsApi, q.toParams(), dev.ebpftraffic.live.WorkloadJson::read);
        }

        @Override
        public ProcessSnapshot processes(ProcessQuery q) throws IOException, InterruptedException {
            return get(processesApi, q.toParams(), ProcessJson::read);
        }

        private <T> T get(URI api, String params, java.util.function.Function<String, T> parse)
                throws IOException, InterruptedException {
            HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(api + "?" + params)).timeout(Duration.ofSeconds(5))
                    .header("Accept", "application/json");
            if (authorization != null) {
                r.header("Authorization", authorization);
            }
            long deadline = System.nanoTime() + FETCH_TIME.toNanos();
            HttpResponse<String> resp;
            try {
                HttpResponse<InputStream> raw = client.send(r.build(), HttpResponse.BodyHandlers.ofInputStream());
                resp = new Bounded(raw, new String(body(raw.body(), deadline), StandardCharsets.UTF_8));
            } catch (java.net.ConnectException e) {
                throw new IOException(shown + ": connection refused", e);
            } catch (IOException e) {
                throw new IOException(shown + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
            }
            if (resp.statusCode() == 401) {
                throw new IOException(shown + " answered 401: give the user and password in the URL, https://user:password@host:port/");
            }
            if (resp.statusCode() != 200) {
                String body = resp.body().strip();
                throw new IOException(api + " answered " + resp.statusCode() + (body.isEmpty() ? "" : ": "
                        + (body.length() > 200 ? body.substring(0, 200) : body)));
            }
            try {
                return parse.apply(resp.body());
            } catch (RuntimeException e) {
                throw new IOException(api + " did not answer with the live view's JSON: " + e.getMessage(), e);
            }
        }

        @Override
        public String describe() {
            return "from " + shown;
        }

        /**
         * The body, at most MAX_BODY bytes, read by the deadline: a server that sends too much or
         * trickles must not exhaust the heap or hold the screen (and the q key) for long.
         */
        static byte[] body(InputStream in, long deadline) throws IOException {
            java.util.concurrent.atomic.AtomicBoolean late = new java.util.concurrent.atomic.AtomicBoolean();
            var timer = CANCEL.schedule(() -> {
                late.set(true);
                try {
                    in.close(); // wakes the blocked read
                } catch (IOException e) {
                    // closing anyway
                }
            }, Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            try (in) {
                java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
                byte[] buf = new byte[16384];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (late.get()) {
                        break;
                    }
                    if (out.size() + n > MAX_BODY) {
                        throw new IOException("the answer is larger than " + (MAX_BODY >> 20) + " MiB; is this the exporter's address?");
                    }
                    out.write(buf, 0, n);
                }
                if (late.get()) {
                    throw new IOException("no complete answer within " + FETCH_TIME.toSeconds() + " s");
                }
                return out.toByteArray();
            } catch (IOException e) {
                if (late.get()) {
                    throw new IOException("no complete answer within " + FETCH_TIME.toSeconds() + " s", e);
                }
                throw e;
            } finally {
                timer.cancel(false);
            }
        }

        /** The response with its body already read (as a String). */
        private record Bounded(HttpResponse<InputStream> raw, String body) implements HttpResponse<String> {
            @Override
            public int statusCode() {
                return raw.statusCode();
            }

            @Override
            public HttpRequest request() {
                return raw.request();
            }

            @Override
            public java.util.Optional<HttpResponse<String>> previousResponse() {
                return java.util.Optional.empty();
            }

            @Override
            public java.net.http.HttpHeaders headers() {
                return raw.headers();
            }

            @Override
            public java.util.Optional<javax.net.ssl.SSLSession> sslSession() {
                return raw.sslSession();
            }

            @Override
            public URI uri() {
                return raw.uri();
            }

            @Override
            public HttpClient.Version version() {
                return raw.version();
            }
        }
    }
}
