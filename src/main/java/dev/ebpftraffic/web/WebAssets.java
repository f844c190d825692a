package dev.ebpftraffic.web;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The live view's page and static files, read once from the jar (src/main/resources/web): the
 * exporter serves everything the page needs, with no CDN and no internet.
 */
final class WebAssets {
    /** A static file. */
    record Asset(String contentType, byte[] bytes) {
    }

    private static final Map<String, Asset> STATIC = Map.of(
            "/static/live.js", load("web/static/live.js", "text/javascript; charset=utf-8"),
            "/static/processes.js", load("web/static/processes.js", "text/javascript; charset=utf-8"),
            "/static/live.css", load("web/static/live.css", "text/css; charset=utf-8"),
            "/static/favicon.svg", load("web/static/favicon.svg", "image/svg+xml"));
    private static final String INDEX = new String(load("web/index.html", "").bytes(), StandardCharsets.UTF_8);

    private WebAssets() {
    }

    static boolean has(String path) {
        return STATIC.containsKey(path);
    }

    static Asset get(String path) {
        return STATIC.get(path);
    }

    /** The page at /, with the metrics path and the version filled in. */
    static String index(String telemetryPath, String version) {
        String p = escape(telemetryPath);
        String v = escape(version);
        return INDEX.replace("{{METRICS_HREF}}", "." + p).replace("{{METRICS_PATH}}", p)
                .replace("{{VERSION}}", v.isEmpty() ? "" : " Version " + v + ".");
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static Asset load(String resource, String type) {
        try (InputStream in = WebAssets.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("resource " + resource + " is missing from the jar");
            }
            return new Asset(type, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
