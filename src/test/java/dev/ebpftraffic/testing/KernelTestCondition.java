package dev.ebpftraffic.testing;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.opentest4j.TestAbortedException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Skips (or, with CI=true, fails) kernel tests on a machine that cannot run them. */
public final class KernelTestCondition implements BeforeAllCallback, BeforeEachCallback {

    @Override
    public void beforeAll(ExtensionContext context) {
        check();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        check();
    }

    /** Call from helpers that need the kernel outside a @KernelTest class, too. */
    public static void check() {
        String reason = whyNot();
        if (reason == null) {
            return;
        }
        if (isCi()) {
            throw new AssertionError("kernel test cannot run under CI=true: " + reason);
        }
        throw new TestAbortedException("skipped kernel test: " + reason + " (run as root: sudo make test)");
    }

    public static boolean isCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    static String whyNot() {
        try {
            String status = Files.readString(Path.of("/proc/self/status"));
            for (String line : status.split("\n")) {
                if (line.startsWith("Uid:") && !line.split("\\s+")[2].equals("0")) {
                    return "not running as root (effective uid " + line.split("\\s+")[2] + ")";
                }
            }
        } catch (IOException e) {
            return "cannot read /proc/self/status: " + e.getMessage();
        }
        if (!Files.exists(Path.of("/sys/fs/bpf")) && !Files.exists(Path.of("/proc/sys/net/core/bpf_jit_enable"))) {
            return "this kernel shows no BPF support";
        }
        return null;
    }
}
