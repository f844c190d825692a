package dev.ebpftraffic.metrics;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Version of the exporter (from the build) and of the JVM running it. */
public record BuildInfo(String version, String javaVersion) {
    public static BuildInfo current() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("/build-info.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException ignored) {
            // fall through to "unknown"
        }
        return new BuildInfo(p.getProperty("version", "unknown"), Runtime.version().toString());
    }
}
