package dev.ebpftraffic.app;

import dev.ebpftraffic.sys.Errno;
import dev.ebpftraffic.libbpf.LibbpfException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The capabilities the exporter needs (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON), read from
 * /proc/self/status, to name the missing one when the kernel refuses the program. Without
 * CAP_PERFMON the verifier rejects the program with EACCES, which would otherwise read like an
 * old kernel.
 */
final class Privileges {
    static final String DENIED = "permission denied loading the BPF program: ";
    static final int CAP_NET_ADMIN = 12;
    static final int CAP_PERFMON = 38;
    static final int CAP_BPF = 39;

    private Privileges() {
    }

    /** The effective capability mask, or -1 if /proc/self/status cannot be read. */
    static long effective(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                return Long.parseUnsignedLong(line.substring(7).trim(), 16);
            }
        }
        return -1;
    }

    /** Names of the needed capabilities missing from the mask, in the order of the README. */
    static List<String> missing(long capEff) {
        List<String> out = new ArrayList<>();
        if ((capEff & (1L << CAP_BPF)) == 0) {
            out.add("CAP_BPF");
        }
        if ((capEff & (1L << CAP_NET_ADMIN)) == 0) {
            out.add("CAP_NET_ADMIN");
        }
        if ((capEff & (1L << CAP_PERFMON)) == 0) {
            out.add("CAP_PERFMON");
        }
        return out;
    }

    /** e unchanged, or a permission error naming the missing capabilities when some are missing. */
    static RuntimeException explain(LibbpfException e) {
        if (e.errno() != Errno.EPERM && e.errno() != Errno.EACCES) {
            return e;
        }
        long eff;
        try {
            eff = effective(Files.readString(Path.of("/proc/self/status")));
        } catch (IOException | RuntimeException ex) {
            return e;
        }
        List<String> missing = eff < 0 ? List.of() : missing(eff);
        if (missing.isEmpty()) {
            return e;
        }
        return new LibbpfException(DENIED + String.join(" and ", missing)
                + (missing.size() == 1 ? " is" : " are") + " missing; run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON",
                e.errno());
    }
}
