package dev.ebpftraffic.cli;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.web.ListenAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OptionsTest {

    private static Options parse(String... args) {
        return Options.parse(args);
    }

    @Test
    void defaults() {
        Options o = parse();
        assertEquals("eth0", o.iface());
        assertEquals(new ListenAddress(null, 9091), o.addr());
        assertEquals(":9091", o.addr().toString());
        assertEquals(AttachMode.AUTO, o.attachMode());
        assertEquals("libbpf.so.1", o.libbpfPath());
        assertEquals(Log.Level.INFO, o.logLevel());
        assertFalse(o.help());
        assertFalse(o.version());
    }

    @Test
    void equalsForm() {
        Options o = parse("--iface=x", "--addr=127.0.0.1:9100", "--attach-mode=legacy", "--libbpf-path=/opt/libbpf.so",
                "--log.level=debug");
        assertEquals("x", o.iface());
        assertEquals(new ListenAddress("127.0.0.1", 9100), o.addr());
        assertEquals(AttachMode.LEGACY, o.attachMode());
        assertEquals("/opt/libbpf.so", o.libbpfPath());
        assertEquals(Log.Level.DEBUG, o.logLevel());
    }

    @Test
    void spaceForm() {
        Options o = parse("--iface", "x", "--addr", "[::1]:9100", "--attach-mode", "tcx", "--libbpf-path", "/opt/l.so",
                "--log.level", "warn");
        assertEquals("x", o.iface());
        assertEquals(new ListenAddress("::1", 9100), o.addr());
        assertEquals(AttachMode.TCX, o.attachMode());
        assertEquals("/opt/l.so", o.libbpfPath());
        assertEquals(Log.Level.WARN, o.logLevel());
    }

    @Test
    void bothFormsTheSame() {
        assertEquals(parse("--iface", "veth-a1", "--addr", ":80"), parse("--iface=veth-a1", "--addr=:80"));
    }

    @Test
    void lastOneWinsAndCaseInsensitiveEnums() {
        Options o = parse("--iface=a", "--iface=b", "--attach-mode", "LEGACY", "--log.level", "Error");
        assertEquals("a,b", o.iface(), "--iface adds up");
        assertEquals(java.util.List.of("a", "b"), o.ifaces().literals());
        assertEquals(AttachMode.LEGACY, o.attachMode());
        assertEquals(Log.Level.ERROR, o.logLevel());
        assertEquals(AttachMode.AUTO, parse("--attach-mode=auto").attachMode());
    }

    @Test
    void valueMayContainEquals() {
        assertEquals("/x=y/libbpf.so", parse("--libbpf-path=/x=y/libbpf.so").libbpfPath());
    }

    @Test
    void helpAndVersion() {
        assertTrue(parse("-h").help());
        assertTrue(parse("--help").help());
        assertTrue(parse("-help").help());
        assertTrue(parse("--version").version());
        assertFalse(parse("--version").help());
        assertTrue(Options.USAGE.contains("--iface"));
        assertTrue(Options.USAGE.contains("--addr"));
        assertTrue(Options.USAGE.contains("--attach-mode"));
        assertTrue(Options.USAGE.contains("--log.level"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // arguments (space separated) | words the message must contain
            "--foo | unknown flag --foo",
            "--foo=bar | unknown flag --foo",
            "--iface=eth0 --bogus x | unknown flag --bogus",
            "eth0 | unexpected argument \"eth0\"",
            "-iface eth0 | flags start with --",
            "--iface | flag --iface needs a value",
            "--addr | flag --addr needs a value",
            "--iface=x --attach-mode | flag --attach-mode needs a value",
            "--log.level | flag --log.level needs a value",
            "--libbpf-path | flag --libbpf-path needs a value",
            "--iface= | --iface is empty",
            "--iface=eth0,,eth1 | has an empty entry",
            "--iface=eth[0-3 | is not closed",
            "--iface=eth/0 | cannot contain '/'",
            "--iface=averyveryverylongname | longer than 15 characters",
            "--iface-exclude= | --iface-exclude is empty",
            "--iface-exclude=all | would exclude every interface",
            "--iface-exclude=veth[ | is not closed",
            "--iface-exclude | flag --iface-exclude needs a value",
            "--attach-mode=xdp | use auto, tcx or legacy",
            "--attach-mode tc | use auto, tcx or legacy",
            "--attach-mode= | use auto, tcx or legacy",
            "--log.level=verbose | use debug, info, warn or error",
            "--log.level trace | use debug, info, warn or error",
            "--addr 9091 | missing port",
            "--addr=::1:9091 | need brackets",
            "--addr=:0 | out of range",
            "--config.file= | invalid --config.file \"\": give the path of a YAML file",
            "--series-ttl=99999999999h | invalid --series-ttl \"99999999999h\": too long; use at most 36500d",
            "--series-ttl=9999999999999999999s | invalid --series-ttl \"9999999999999999999s\": use a duration",
            "--kubernetes=on | invalid --kubernetes \"on\": use off, labels or aggregate",
            "--kubernetes | flag --kubernetes needs a value",
            "--kubernetes.kubeconfig=/etc/hostname | --kubernetes.kubeconfig needs --kubernetes labels or aggregate",
            "--kubernetes=labels --kubernetes.kubeconfig=/no/such/kubeconfig | invalid --kubernetes.kubeconfig /no/such/kubeconfig: not a readable file",
            "--kubernetes=labels --kubernetes.kubeconfig=/tmp | not a readable file",
            "--kubernetes=labels --kubernetes.kubeconfig= | invalid --kubernetes.kubeconfig \"\"",
            "--kubernetes=labels --kubernetes.node-name= | invalid --kubernetes.node-name \"\"",
    })
    void rejects(String args, String mustMention) {
        String[] argv = args.strip().split(" ");
        UsageException e = assertThrows(UsageException.class, () -> Options.parse(argv), () -> "accepted " + args);
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertFalse(m.contains("\r"), m);
        assertFalse(m.isBlank());
        assertTrue(m.contains(mustMention), () -> "\"" + m + "\" does not mention " + mustMention);
    }

    @Test
    void ifaceDefaultsToEth0AndTakesListsGlobsAndExclusions() {
        assertEquals(java.util.List.of("eth0"), parse().ifaces().literals());
        Options o = parse("--iface", "eth*,ens3", "--iface=wg0", "--iface-exclude", "eth9", "--iface-exclude=ens*");
        assertEquals("eth*,ens3,wg0", o.iface());
        assertEquals(java.util.List.of("ens3", "wg0"), o.ifaces().literals(), "globs are not required to exist");
        assertTrue(o.ifaces().matches("eth1", false));
        assertFalse(o.ifaces().matches("eth9", false), "excluded");
        assertFalse(o.ifaces().matches("ens3", false), "the exclusion wins over a plain name");
        assertTrue(o.ifaces().matches("wg0", false));
        assertFalse(o.ifaces().matches("lo", true));
        Options all = parse("--iface", "all");
        assertTrue(all.ifaces().matches("veth12", false));
        assertFalse(all.ifaces().matches("lo", true), "all leaves loopback out");
        assertTrue(parse("--iface", "all,lo").ifaces().matches("lo", true), "unless it is listed");
        assertTrue(Options.USAGE.contains("--iface-exclude"));
    }

    @Test
    void badModeAndLevelNameTheBadValue() {
        UsageException mode = assertThrows(UsageException.class, () -> parse("--attach-mode=xdp"));
        assertEquals("invalid --attach-mode \"xdp\": use auto, tcx or legacy", mode.getMessage());
        UsageException level = assertThrows(UsageException.class, () -> parse("--log.level=verbose"));
        assertEquals("invalid --log.level \"verbose\": use debug, info, warn or error", level.getMessage());
        UsageException unknown = assertThrows(UsageException.class, () -> parse("--foo"));
        assertEquals("unknown flag --foo, see --help", unknown.getMessage());
        UsageException missing = assertThrows(UsageException.class, () -> parse("--iface"));
        assertEquals("flag --iface needs a value, see --help", missing.getMessage());
    }

    @Test
    void kubernetesFlags() {
        assertEquals(new Options.Kubernetes("off", null, null), Options.kubernetes("off", null, null, null));
        assertEquals(new Options.Kubernetes("labels", null, "node-a"), Options.kubernetes("labels", null, null, "node-a"),
                "the node name comes from $NODE_NAME (the downward API)");
        assertEquals(new Options.Kubernetes("aggregate", "/etc/hostname", "n2"),
                Options.kubernetes("aggregate", "/etc/hostname", "n2", "node-a"), "the flag wins over $NODE_NAME");
        assertEquals("aggregate", parse("--kubernetes", "aggregate").kubernetes().mode());
        assertTrue(parse("--kubernetes=labels").kubernetes().enabled());
        assertFalse(parse().kubernetes().enabled());
    }
}
