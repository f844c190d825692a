package dev.ebpftraffic.config;

import dev.ebpftraffic.flow.Direction;
import dev.ebpftraffic.flow.FlowKey;
import dev.ebpftraffic.flow.GroupLabeler;
import dev.ebpftraffic.flow.IpAddress;
import dev.ebpftraffic.flow.SeriesKey;
import dev.ebpftraffic.testing.Cmd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TrafficConfigTest {
    static TrafficConfig parse(String yaml) {
        return TrafficConfig.parse("test.yml", new StringReader(yaml));
    }

    static SeriesKey series(GroupLabeler l, String src, String dst) {
        return l.seriesKey(FlowKey.of(3, Direction.INBOUND, IpAddress.parse(src), IpAddress.parse(dst)), "eth3");
    }

    @Test
    void theShippedExampleLoadsAndLabelsAsItsCommentsSay() {
        TrafficConfig c = TrafficConfig.load(Path.of(System.getProperty("project.root", "."), "config.example.yml"));
        GroupLabeler l = c.labeler();
        assertEquals(4, c.groups().size());
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "office", "203.0.113.0/24", "public"),
                series(l, "10.1.2.3", "203.0.113.77"));
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "2001:db8:5::/48", "office", "private"),
                series(l, "2001:db8:5:1::9", "fd00:1:0:2::1"));
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "aws-vpc", "our-public-range", "private"),
                series(l, "172.31.9.9", "198.51.100.20"));
        // Private addresses no specific group matches fall into 0.0.0.0/0 too (the example says so).
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "192.168.7.0/24", "aws-vpc", "private"),
                series(l, "192.168.7.7", "172.31.0.1"));
    }

    @Test
    void addressesInNoGroupKeepTheirOwnLabelAndBuiltInIpType() {
        GroupLabeler l = parse("groups:\n  office:\n    cidrs: [10.1.0.0/16]\n").labeler();
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "1.1.1.1", "office", "private"), series(l, "1.1.1.1", "10.1.200.1"));
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "office", "8.8.8.8", "public"), series(l, "10.1.0.5", "8.8.8.8"));
        assertEquals(new SeriesKey("eth3", Direction.INBOUND, "10.2.0.1", "192.0.2.1", "public"), series(l, "10.2.0.1", "192.0.2.1"));
    }

    @Test
    void privateTrueExtendsWhatCountsAsPrivate() {
        GroupLabeler l = parse("groups:\n  ours:\n    cidrs: [\"2001:db8::/32\", 192.0.2.0/24]\n    private: true\n").labeler();
        assertEquals("private", l.ipType(IpAddress.parse("2001:db8::1")));
        assertEquals("private", l.ipType(IpAddress.parse("192.0.2.9")));
        assertEquals("public", l.ipType(IpAddress.parse("198.51.100.1")));
    }

    @Test
    void mostSpecificCidrWinsAcrossGroups() {
        GroupLabeler l = parse("""
                groups:
                  wide:
                    cidrs: [10.0.0.0/8]
                  narrow:
                    cidrs: [10.5.0.0/16]
                """).labeler();
        assertEquals("narrow", l.label(IpAddress.parse("10.5.1.1")));
        assertEquals("wide", l.label(IpAddress.parse("10.6.1.1")));
    }

    @Test
    void prefixAggregationForBothFamilies() {
        GroupLabeler l = parse("""
                groups:
                  peers:
                    cidrs: [0.0.0.0/0, "::/0"]
                    aggregate: prefix
                    ipv4_prefix: 16
                """).labeler();
        assertEquals("203.0.0.0/16", l.label(IpAddress.parse("203.0.113.5")));
        assertEquals("2001:db8::1/128", l.label(IpAddress.parse("2001:db8::1")), "no ipv6_prefix: full address");
    }

    @Test
    void anEmptyFileMeansNoGroups() {
        assertEquals(0, parse("").groups().size());
        assertEquals(0, parse("# nothing\n").groups().size());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/33]\\n                                  | test.yml:3: \"10.0.0.0/33\" is not a CIDR: prefix length must be 0-32",
            "groups:\\n  a:\\n    cidrs: [10.0.0.1/8]\\n                                   | test.yml:3: \"10.0.0.1/8\" has host bits set: did you mean 10.0.0.0/8?",
            "groups:\\n  a:\\n    cidrs:\\n      - 10.0.0.0/8\\n      - banana/3\\n           | test.yml:5: \"banana/3\" is not a CIDR: bad address",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0]\\n                                     | test.yml:3: \"10.0.0.0\" is not a CIDR: add a prefix length, e.g. 10.0.0.0/8",
            "groups:\\n  a:\\n    cidr: [10.0.0.0/8]\\n                                    | test.yml:3: unknown key \"cidr\" in group \"a\" (expected: aggregate, cidrs, ipv4_prefix, ipv6_prefix, private)",
            "groups:\\n  a:\\n    aggregate: group\\n                                      | test.yml:3: group \"a\" has no cidrs",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n    aggregate: prefix\\n             | test.yml:4: group \"a\" aggregates by prefix: set ipv4_prefix and/or ipv6_prefix",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n    aggregate: sum\\n                | test.yml:4: aggregate must be \"group\" or \"prefix\", not \"sum\"",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n    aggregate: prefix\\n    ipv4_prefix: 40\\n | test.yml:5: ipv4_prefix must be 0-32, not 40",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n    private: yes please\\n           | test.yml:4: private must be true or false, not \"yes please\"",
            "groups:\\n  a:\\n    cidrs: 10.0.0.0/8\\n                                     | test.yml:3: cidrs of group \"a\" must be a list, e.g. [10.1.0.0/16]",
            "groups:\\n  a:\\n    cidrs: []\\n                                             | test.yml:3: cidrs of group \"a\" is empty",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n  a:\\n    cidrs: [10.0.0.0/8]\\n  | test.yml:4: group \"a\" is defined twice",
            "grups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n                                     | test.yml:1: unknown key \"grups\" (expected: groups)",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8\\n                                      | test.yml:3: invalid YAML: expected ',' or ']', but got <stream end> (while parsing a flow sequence)",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\n    cidrs: [192.0.2.0/24]\\n  | test.yml:4: key \"cidrs\" appears twice in group \"a\"; merge them into one",
            "groups:\\n  a:\\n    cidrs: [10.0.0.0/8]\\ngroups:\\n  b:\\n    cidrs: [192.0.2.0/24]\\n | test.yml:4: key \"groups\" appears twice; merge them into one",
            "- 1\\n- 2\\n                                                              | test.yml:1: the top level must be a mapping of keys to values",
    })
    void badConfigIsOneLineThatNamesTheLine(String yaml, String expected) {
        ConfigException e = assertThrows(ConfigException.class, () -> parse(yaml.strip().replace("\\n", "\n") + "\n"));
        assertEquals(expected.strip(), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    @Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocked the read for ever
    void onlyARegularUtf8FileOfAtMost3MiBIsRead(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo.yml");
        Cmd.run("mkfifo", fifo.toString()).ok();
        assertEquals("invalid --config.file " + fifo + ": it is not a regular file (a FIFO, socket or device); give a YAML file",
                assertThrows(ConfigException.class, () -> TrafficConfig.load(fifo)).getMessage());
        assertEquals("invalid --config.file /dev/zero: it is not a regular file (a FIFO, socket or device); give a YAML file",
                assertThrows(ConfigException.class, () -> TrafficConfig.load(Path.of("/dev/zero"))).getMessage());
        assertEquals("invalid --config.file " + dir + ": it is a directory, not a file; give a YAML file",
                assertThrows(ConfigException.class, () -> TrafficConfig.load(dir)).getMessage());
        Path big = dir.resolve("big.yml");
        try (var f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(InputFiles.MAX_BYTES + 1L); // sparse: 3 MiB and a byte of zeros
        }
        assertEquals("invalid --config.file " + big + ": it is larger than 3 MiB; give a YAML file",
                assertThrows(ConfigException.class, () -> TrafficConfig.load(big)).getMessage());
        Path latin1 = dir.resolve("latin1.yml");
        Files.write(latin1, "# caf\u00e9\ngroups: {}\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertEquals("invalid --config.file " + latin1 + ": it is not UTF-8 text; save it as UTF-8",
                assertThrows(ConfigException.class, () -> TrafficConfig.load(latin1)).getMessage());
    }

    @Test
    void aMissingFileSaysSo() {
        ConfigException e = assertThrows(ConfigException.class, () -> TrafficConfig.load(Path.of("/nonexistent/x.yml")));
        assertEquals("/nonexistent/x.yml: no such file: check --config.file", e.getMessage());
    }
}
