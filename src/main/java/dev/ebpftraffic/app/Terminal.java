package dev.ebpftraffic.app;

import java.io.File;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The controlling terminal for `top`: no line buffering and no echo (stty on /dev/tty; Ctrl-C
 * still raises SIGINT), the alternate screen, a hidden cursor. {@link #restore} puts every bit
 * of it back and may be called more than once (on quit and from the shutdown hook on Ctrl-C).
 */
final class Terminal {
    private static final File TTY = new File("/dev/tty");
    private final String saved;
    private final OutputStream out = new FileOutputStream(FileDescriptor.out);
    private final InputStream in;
    private boolean restored;

    private Terminal(String saved, InputStream in) {
        this.saved = saved;
        this.in = in;
    }

    /** Saves the settings, switches to cbreak mode and the alternate screen. */
    static Terminal open() throws IOException {
        String saved = stty("-g").strip();
        InputStream in = new FileInputStream(TTY);
        Terminal t = new Terminal(saved, in);
        stty("-icanon", "-echo", "min", "1", "time", "0");
        t.write("\033[?1049h\033[?25l\033[H\033[2J");
        return t;
    }

    InputStream keys() {
        return in;
    }

    /** {rows, columns}; 24x80 if the terminal does not say. */
    int[] size() {
        try {
            String[] rc = stty("size").strip().split("\\s+");
            int rows = Integer.parseInt(rc[0]);
            int cols = Integer.parseInt(rc[1]);
            if (rows > 0 && cols > 0) {
                return new int[] {rows, cols};
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        return new int[] {24, 80};
    }

    /** Draws a whole frame from the top left, clearing what is left of each line and below. */
    synchronized void draw(List<String> lines) throws IOException {
        if (restored) {
            return;
        }
        StringBuilder b = new StringBuilder("\033[H");
        for (int i = 0; i < lines.size(); i++) {
            b.append(lines.get(i)).append("\033[K");
            if (i < lines.size() - 1) {
                b.append("\r\n");
            }
        }
        b.append("\033[J");
        write(b.toString());
    }

    private void write(String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Leaves the alternate screen, shows the cursor, restores the saved stty settings. */
    synchronized void restore() {
        if (restored) {
            return;
        }
        restored = true;
        try {
            write("\033[0m\033[?25h\033[?1049l");
        } catch (IOException e) {
            // the terminal is gone; still restore its settings
        }
        try {
            stty(saved);
        } catch (IOException | RuntimeException e) {
            System.err.println("ebpf-traffic-exporter top: cannot restore the terminal: " + e.getMessage() + " (run `stty sane`)");
        }
    }

    /** Runs stty on /dev/tty and returns what it printed. */
    static String stty(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("stty");
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(TTY).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stty " + String.join(" ", args) + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return output;
    }
}
