package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.KernelTestCondition;
import org.opentest4j.TestAbortedException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs external commands (openssl, htpasswd, promtool, ip, ...) for the deployment tests. */
public final class Cmd {
    private Cmd() {
    }

    public record Result(int exit, String out, String err) {
        public Result ok() {
            if (exit != 0) {
                throw new AssertionError("command failed with exit " + exit + ": " + err + out);
            }
            return this;
        }
    }

    public static Result run(String... cmd) {
        return run(null, Arrays.asList(cmd));
    }

    public static Result run(Path dir, List<String> cmd) {
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd);
            if (dir != null) {
                pb.directory(dir.toFile());
            }
            Path out = Files.createTempFile("cmd", ".out");
            Path err = Files.createTempFile("cmd", ".err");
            try {
                pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
                Process p = pb.start();
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new AssertionError("command timed out: " + cmd);
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + cmd + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public static Result ok(String... cmd) {
        return run(cmd).ok();
    }

    /** The absolute path of a tool, or skip (fail under CI=true: `make test` installs it). */
    public static String require(String tool, String debianPackage) {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, tool);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        String why = tool + " is not installed (Debian package " + debianPackage + "; `sudo make test` installs it)";
        if (KernelTestCondition.isCi()) {
            throw new AssertionError(why);
        }
        throw new TestAbortedException("skipped: " + why);
    }

    public static List<String> list(String... parts) {
        return new ArrayList<>(Arrays.asList(parts));
    }
}
