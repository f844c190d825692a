package dev.ebpftraffic.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The restart flags, --bpf.pin-path and --state.file, taken out of the arguments before the other
 * flags are parsed. Both or neither: pinned maps without the state would count again, after a
 * restart, what Prometheus already saw.
 */
public record PersistOptions(Path pinPath, Path stateFile, List<String> rest) {
    public static final String USAGE = """
            restarts (both or neither; see README "Restarts"):
              --bpf.pin-path DIR      pin the maps and TCX links in DIR (on bpffs, e.g. /sys/fs/bpf/ebpf-traffic-exporter):
                                      the kernel keeps counting while the exporter restarts
              --state.file FILE       userspace totals, written atomically after every refresh and before every
                                      scrape response (e.g. /var/lib/ebpf-traffic-exporter/state)

            ebpf-traffic-exporter uninstall --bpf.pin-path DIR [--state.file FILE]
                                      detach and unpin everything in DIR, remove DIR and FILE
            """;

    public boolean enabled() {
        return pinPath != null || stateFile != null;
    }

    /** Extracts the two flags; the rest goes to {@link Options#parse}. */
    public static PersistOptions extract(String[] args, boolean uninstall) {
        List<String> rest = new ArrayList<>();
        String pin = null;
        String state = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (!name.equals("--bpf.pin-path") && !name.equals("--state.file")) {
                rest.add(a);
                continue;
            }
            String value;
            if (a.contains("=")) {
                value = a.substring(a.indexOf('=') + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new UsageException(name + " needs a value");
            }
            if (value.isBlank()) {
                throw new UsageException(name + " needs a path, not an empty string");
            }
            if (name.equals("--bpf.pin-path")) {
                pin = value;
            } else {
                state = value;
            }
        }
        Path pinPath = pin == null ? null : Path.of(pin).toAbsolutePath().normalize();
        Path statePath = state == null ? null : Path.of(state).toAbsolutePath().normalize();
        if (uninstall) {
            if (pinPath == null && statePath == null) {
                throw new UsageException("uninstall needs --bpf.pin-path (and --state.file if one was used)");
            }
            return new PersistOptions(pinPath, statePath, rest);
        }
        if ((pinPath == null) != (statePath == null)) {
            throw new UsageException(pinPath == null ? "--state.file needs --bpf.pin-path too (without pinned maps the kernel's counts do not survive a restart)"
                    : "--bpf.pin-path needs --state.file too (without it, a restart would count again what Prometheus already saw)");
        }
        return new PersistOptions(pinPath, statePath, rest);
    }

    /** At start (not while parsing: the paths are the running host's): one-line errors for unusable paths. */
    public void checkPaths() {
        if (stateFile != null) {
            Path dir = stateFile.getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                throw new IllegalStateException("--state.file " + stateFile + ": directory " + dir + " does not exist: create it first");
            }
            if (Files.isDirectory(stateFile)) {
                throw new IllegalStateException("--state.file " + stateFile + " is a directory: give a file name in it");
            }
        }
        if (pinPath != null && (pinPath.getParent() == null || !Files.isDirectory(pinPath.getParent()))) {
            throw new IllegalStateException("--bpf.pin-path " + pinPath + ": " + pinPath.getParent()
                    + " does not exist: use a directory on a bpffs mount, e.g. /sys/fs/bpf/ebpf-traffic-exporter");
        }
    }
}
