package dev.ebpftraffic.web;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.ebpftraffic.web.ListenAddress;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.config.PrometheusProperties;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.zip.GZIPOutputStream;

/**
 * The HTTP endpoint, on the JDK's HTTP server: the metrics (content negotiation, gzip and the
 * protobuf format come from the Prometheus client's MetricsHandler), the live view at / (its
 * page, static assets under /static/ and the JSON API under /api/v1/), /-/healthy and /-/ready, and the --web.config.file settings: TLS, basic auth, extra headers.
 * Paths match exactly; anything else is 404.
 */
public final class MetricsServer implements AutoCloseable {
    static final String HEALTHY = "/-/healthy";
    static final String READY = "/-/ready";
    /** Seconds a client has to send a request (TLS handshake, headers and body) once its first byte arrived. */
    public static final int MAX_REQUEST_SECONDS = 10;
    /** Seconds a client has to take a response; beyond that the connection is closed. */
    public static final int MAX_RESPONSE_SECONDS = 60;

    static {
        // The JDK server reads these once, when its first instance is made; without them a client
        // that stops half-way through a request (or a TLS handshake) holds its connection forever.
        // Each covers one request on a connection, from its first byte; idle keep-alive connections
        // hold no thread and are closed after sun.net.httpserver.idleInterval (30 s).
        setDefault("sun.net.httpserver.maxReqTime", MAX_REQUEST_SECONDS);
        setDefault("sun.net.httpserver.maxRspTime", MAX_RESPONSE_SECONDS);
    }

    private static void setDefault(String property, int seconds) {
        if (System.getProperty(property) == null) {
            System.setProperty(property, Integer.toString(seconds));
        }
    }

    /**
     * @param telemetryPath where the metrics are served, e.g. /metrics
     * @param web           TLS, auth and headers; WebConfig.none() for plain HTTP
     * @param ready         true once the program is attached: /-/ready answers 200, else 503
     * @param version       shown on the landing page
     */
    public record Settings(String telemetryPath, WebConfig web, BooleanSupplier ready, String version,
                           StreamingFamilies streaming, LiveApi live) {
        /** Without streamed families: the client library renders every family. */
        public Settings(String telemetryPath, WebConfig web, BooleanSupplier ready, String version) {
            this(telemetryPath, web, ready, version, null, null);
        }

        /** Without the live view's API (its page then says it cannot read it). */
        public Settings(String telemetryPath, WebConfig web, BooleanSupplier ready, String version,
                        StreamingFamilies streaming) {
            this(telemetryPath, web, ready, version, streaming, null);
        }

        public static Settings defaults() {
            return new Settings("/metrics", WebConfig.none(), () -> true, "");
        }
    }

    private final HttpServer server;
    private final ExecutorService pool;
    private final Settings settings;
    private final MetricsHandler metrics;
    /** The client library's formats, configured as its MetricsHandler's (same properties). */
    private final ExpositionFormats formats = ExpositionFormats.init(PrometheusProperties.get());
    /** The text format of the other families without the library's cost per scrape (one per writer the library gives). */
    private final java.util.Map<PrometheusTextFormatWriter, TextFamilies> textFamilies = new java.util.concurrent.ConcurrentHashMap<>();

    private final PrometheusRegistry registry;

    private MetricsServer(HttpServer server, ExecutorService pool, Settings settings, PrometheusRegistry registry) {
        this.server = server;
        this.pool = pool;
        this.settings = settings;
        this.registry = registry;
        this.metrics = new MetricsHandler(registry);
    }

    /** Plain HTTP with the default paths. */
    public static MetricsServer start(ListenAddress addr, PrometheusRegistry registry) {
        return start(addr, registry, Settings.defaults());
    }

    /** Binds and starts serving; throws IllegalStateException with a one-line reason. */
    public static MetricsServer start(ListenAddress addr, PrometheusRegistry registry, Settings settings) {
        InetSocketAddress sa;
        if (addr.host() != null) {
            try {
                sa = new InetSocketAddress(InetAddress.getByName(addr.host()), addr.port());
            } catch (UnknownHostException e) {
                throw new IllegalStateException("cannot listen on " + addr + ": unknown host \"" + addr.host() + "\"");
            }
        } else {
            sa = new InetSocketAddress(addr.port());
        }
        HttpServer server;
        try {
            TlsConfig tls = settings.web().tls();
            if (tls != null) {
                HttpsServer https = HttpsServer.create(sa, 64);
                https.setHttpsConfigurator(new HttpsConfigurator(tls.context()) {
                    @Override
                    public void configure(HttpsParameters params) {
                        params.setSSLParameters(tls.parameters());
                    }
                });
                server = https;
            } else {
                server = HttpServer.create(sa, 64);
            }
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage().toLowerCase(Locale.ROOT);
            if (why.contains("in use")) {
                throw new IllegalStateException("cannot listen on " + addr + ": address already in use; pick a free port with --addr");
            }
            throw new IllegalStateException("cannot listen on " + addr + ": " + e.getMessage() + "; check the host in --addr");
        } catch (IOException e) {
            throw new IllegalStateException("cannot listen on " + addr + ": " + e.getMessage());
        }
        // One virtual thread per exchange: a client that is slow to send (until the request time
        // limit closes it) blocks only its own thread, never the next scrape or health probe.
        ExecutorService pool = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("http-", 1).factory());
        MetricsServer s = new MetricsServer(server, pool, settings, registry);
        server.setExecutor(pool);
        server.createContext("/", s::handle);
        server.start();
        return s;
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            WebConfig web = settings.web();
            web.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
            String path = ex.getRequestURI().getPath();
            BasicAuth auth = web.auth();
            if (auth != null && !web.authExcludedPaths().contains(path)) {
                BasicAuth.Result r = auth.check(ex.getRequestHeaders().getFirst("Authorization"),
                        ex.getRemoteAddress().getAddress().getHostAddress());
                if (r == BasicAuth.Result.LIMITED) {
                    ex.getResponseHeaders().set("Retry-After", Long.toString((BasicAuth.FAILURE_REFILL_MILLIS + 999) / 1000));
                    text(ex, 429, "Too Many Requests: too many failed logins from this address\n");
                    return;
                }
                if (r != BasicAuth.Result.OK) {
                    ex.getResponseHeaders().set("WWW-Authenticate", "Basic");
                    text(ex, 401, "Unauthorized\n");
                    return;
                }
            }
            String method = ex.getRequestMethod();
            boolean known = path.equals(settings.telemetryPath()) || path.equals("/") || path.equals(HEALTHY)
                    || path.equals(READY) || path.startsWith(LiveApi.PREFIX) || WebAssets.has(path);
            if (known && !method.equals("GET") && !method.equals("HEAD")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD");
                text(ex, 405, "Method Not Allowed\n");
                return;
            }
            if (path.equals(settings.telemetryPath())) {
                ExpositionFormatWriter writer = streamedFormat(ex);
                if (writer != null) {
                    streamMetrics(ex, writer);
                } else {
                    metrics.handle(ex);
                }
            } else if (path.equals("/")) {
                html(ex, WebAssets.index(settings.telemetryPath(), settings.version()));
            } else if (path.startsWith(LiveApi.PREFIX)) {
                api(ex, path);
            } else if (WebAssets.has(path)) {
                WebAssets.Asset a = WebAssets.get(path);
                ex.getResponseHeaders().set("Cache-Control", "no-cache");
                sendBytes(ex, 200, a.contentType(), a.bytes());
            } else if (path.equals(HEALTHY)) {
                text(ex, 200, "Healthy\n");
            } else if (path.equals(READY)) {
                if (settings.ready().getAsBoolean()) {
                    text(ex, 200, "Ready\n");
                } else {
                    String why = settings.ready() instanceof Readiness r ? r.notReadyReason() : null;
                    text(ex, 503, "Not ready: " + (why != null ? why : "the BPF program is not attached") + "\n");
                }
            } else {
                text(ex, 404, "Not Found\n");
            }
        }
    }

    /**
     * The format the client library picks for this request's Accept header, when it is one the
     * streaming writer speaks (the text format or OpenMetrics 1.0); null when the client library
     * answers in full (no streamed families, another format such as protobuf, or the client's own
     * query parameters).
     */
    private ExpositionFormatWriter streamedFormat(HttpExchange ex) {
        if (settings.streaming() == null || ex.getRequestURI().getRawQuery() != null) {
            return null;
        }
        return streamable(formats.findWriter(ex.getRequestHeaders().getFirst("Accept")));
    }

    /** The writer itself when the streaming writer speaks its format, else null. */
    static ExpositionFormatWriter streamable(ExpositionFormatWriter chosen) {
        return chosen instanceof PrometheusTextFormatWriter || chosen instanceof OpenMetricsTextFormatWriter ? chosen : null;
    }

    private void streamMetrics(HttpExchange ex, ExpositionFormatWriter writer) throws IOException {
        boolean openMetrics = writer instanceof OpenMetricsTextFormatWriter;
        ex.getResponseHeaders().set("Content-Type", writer.getContentType());
        boolean gzip = acceptsGzip(ex);
        if (gzip) {
            ex.getResponseHeaders().set("Content-Encoding", "gzip");
        }
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(200, -1);
            return;
        }
        ex.sendResponseHeaders(200, 0); // chunked: the size is known only at the end
        StreamingFamilies streaming = settings.streaming();
        try (OutputStream raw = ex.getResponseBody();
             OutputStream out = gzip ? new GZIPOutputStream(raw, 1 << 16) : new BufferedOutputStream(raw, 1 << 16)) {
            streaming.write(out, openMetrics);
            MetricSnapshots rest = registry.scrape(name -> !streaming.owns(name));
            if (openMetrics || !(writer instanceof PrometheusTextFormatWriter text) || !textFamilies(text).write(out, rest)) {
                writer.write(out, rest);
            }
        }
    }

    private TextFamilies textFamilies(PrometheusTextFormatWriter writer) {
        return textFamilies.computeIfAbsent(writer, TextFamilies::new);
    }

    /** Whether the request's Accept-Encoding names gzip (the metrics and the JSON API both ask). */
    private static boolean acceptsGzip(HttpExchange ex) {
        String encodings = ex.getRequestHeaders().getFirst("Accept-Encoding");
        return encodings != null && encodings.toLowerCase(Locale.ROOT).contains("gzip");
    }

    /** The live view's JSON API; gzip when the client accepts it (a page of rows with sparklines is tens of kB). */
    private void api(HttpExchange ex, String path) throws IOException {
        LiveApi live = settings.live();
        LiveApi.Response r = live == null
                ? new LiveApi.Response(404, "{\"error\":\"the live view is not enabled\"}\n")
                : live.get(path, ex.getRequestURI().getRawQuery());
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        byte[] body = r.json().getBytes(StandardCharsets.UTF_8);
        if (acceptsGzip(ex) && body.length > 1024) {
            java.io.ByteArrayOutputStream z = new java.io.ByteArrayOutputStream(body.length / 4);
            try (GZIPOutputStream g = new GZIPOutputStream(z)) {
                g.write(body);
            }
            body = z.toByteArray();
            ex.getResponseHeaders().set("Content-Encoding", "gzip");
        }
        ex.getResponseHeaders().set("Vary", "Accept-Encoding");
        sendBytes(ex, r.status(), "application/json; charset=utf-8", body);
    }

    private static void html(HttpExchange ex, String body) throws IOException {
        send(ex, 200, "text/html; charset=utf-8", body);
    }

    private static void text(HttpExchange ex, int status, String body) throws IOException {
        send(ex, status, "text/plain; charset=utf-8", body);
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        sendBytes(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void sendBytes(HttpExchange ex, int status, String type, byte[] bytes) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public boolean isTls() {
        return server instanceof HttpsServer;
    }

    /** How long close() waits for requests still running (a big scrape) to finish. */
    static final Duration CLOSE_WAIT = Duration.ofSeconds(10);

    /**
     * Stops accepting, then waits (at most CLOSE_WAIT) for the requests still running, so that none
     * reads the collector after the exporter goes on to close the maps.
     */
    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
        try {
            pool.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
