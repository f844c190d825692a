package dev.ebpftraffic.web;

import dev.ebpftraffic.cli.ListenAddress;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** The HTTP endpoint: /metrics (and / with a link to it, /-/healthy) from the official client. */
public final class MetricsServer implements AutoCloseable {
    private final HTTPServer server;

    private MetricsServer(HTTPServer server) {
        this.server = server;
    }

    /** Binds and starts serving; throws IllegalStateException with a one-line reason. */
    public static MetricsServer start(ListenAddress addr, PrometheusRegistry registry) {
        HTTPServer.Builder b = HTTPServer.builder().port(addr.port()).registry(registry);
        if (addr.host() != null) {
            try {
                b.inetAddress(InetAddress.getByName(addr.host()));
            } catch (UnknownHostException e) {
                throw new IllegalStateException("cannot listen on " + addr + ": unknown host \"" + addr.host() + "\"");
            }
        }
        try {
            return new MetricsServer(b.buildAndStart());
        } catch (BindException e) {
            String why = e.getMessage() == null ? "" : e.getMessage().toLowerCase(java.util.Locale.ROOT);
            if (why.contains("in use")) {
                throw new IllegalStateException("cannot listen on " + addr + ": address already in use; pick a free port with --addr");
            }
            throw new IllegalStateException("cannot listen on " + addr + ": " + e.getMessage() + "; check the host in --addr");
        } catch (IOException e) {
            throw new IllegalStateException("cannot listen on " + addr + ": " + e.getMessage());
        }
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.close();
    }
}
