package dev.ebpftraffic.app;

import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.cli.UsageException;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.ExporterProcess;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Bad `top` flags through the launcher (no terminal, nothing attached): exit 2 and one line that
 * says what to fix, also for the exporter's flags top passes on, which are checked before anything
 * else (the terminal included).
 */
class TopFlagsTest {
    static Cmd.Result top(String... args) {
        List<String> cmd = new ArrayList<>(List.of(ExporterProcess.launcher().toString(), "top"));
        cmd.addAll(List.of(args));
        return Cmd.run(cmd);
    }

    static void assertOneLine(String expected, Cmd.Result r) {
        assertEquals(2, r.exitCode(), r.toString());
        assertEquals("", r.stdout(), r.toString());
        assertEquals("ebpf-traffic-exporter top: " + expected + "\n", r.stderr(), r.toString());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "''                                         | top needs --iface NAME (attach here) or --from URL (read a running exporter), see top --help",
            "--interval                                 | flag --interval needs a value, see top --help",
            "--from http://127.0.0.1:1/ --sort nope     | invalid --sort \"nope\": use one of bits_2s, bits_10s, bits_40s, packets_2s, packets_10s, packets_40s, bytes, packets",
            "--iface=lo --interval 100ms                | invalid --interval: at least 200ms",
            "--from http://127.0.0.1:1/ --iface lo      | with --from, top takes only --insecure, --ca-file, --interval and --sort; got --iface",
            "--sort=bytes --from                        | flag --from needs a value, see top --help",
            "--iface lo --series-ttl                    | flag --series-ttl needs a value, see top --help",
            "--from http://127.0.0.1:1/ --live.reverse-dns=false | with --from, the host names come from the exporter: its --live.reverse-dns and --live.dns-server apply, not top's",
            "--iface lo --live.dns-server 10.0.0.1:x    | invalid --live.dns-server \"10.0.0.1:x\": give IP addresses, with a port if not 53: 192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:53, comma separated",
            "--iface lo --live.reverse-dns              | flag --live.reverse-dns needs a value, see top --help",
    })
    void topsOwnFlags(String args, String expected) {
        assertOneLine(expected, top(args.isEmpty() ? new String[0] : args.split(" ")));
    }

    /** The exporter's flags are parsed by Options, with its messages, before the terminal is looked at. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "--iface lo --max-series abc",
            "--iface lo --map-size=0",
            "--iface lo --bogus 1",
            "--iface lo --attach-mode sideways",
            "--iface lo,, --interval 1s",
    })
    void exporterFlagsAreCheckedFirst(String args) {
        String[] a = args.split(" ");
        String[] exporterFlags = Arrays.stream(a).filter(s -> !s.equals("--interval") && !s.equals("1s")).toArray(String[]::new);
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(exporterFlags));
        assertOneLine(e.getMessage(), top(a));
    }
}
