package dev.ebpftraffic.iface;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IfacePatternsTest {
    static IfacePatterns p(String iface, String... exclude) {
        return IfacePatterns.parse(List.of(iface), List.of(exclude));
    }

    @ParameterizedTest(name = "{0} matches {1}: {2}")
    @CsvSource(delimiter = '|', value = {
            "eth0        | eth0      | true",
            "eth0        | eth01     | false",
            "eth0        | eth       | false",
            "eth*        | eth       | true",
            "eth*        | eth0.100  | true",
            "eth*        | xeth0     | false",
            "eth*,ens*   | ens3      | true",
            "eth*,ens*   | enp0s3    | false",
            "en?         | ens       | true",
            "en?         | ens3      | false",
            "eth[0-3]    | eth2      | true",
            "eth[0-3]    | eth4      | false",
            "eth[!0-3]   | eth4      | true",
            "eth[^0-3]   | eth1      | false",
            "veth[a-f]*  | vethb1c2  | true",
            "br-*        | br-1a2b3c | true",
            "eth\\*      | eth*      | true",
            "eth\\*      | eth0      | false",
            "eth.1       | eth01     | false",
            "eth.1       | eth.1     | true",
            "*           | anything  | true",
            "all         | veth1     | true",
            "all         | wg0       | true",
    })
    void globs(String iface, String name, boolean match) {
        assertEquals(match, p(iface).matches(name, false));
    }

    @Test
    void loopbackOnlyWhenListedOrMatchedByAPatternOtherThanAll() {
        assertFalse(p("all").matches("lo", true));
        assertTrue(p("all,lo").matches("lo", true));
        assertTrue(p("lo").matches("lo", true));
        assertTrue(p("l*").matches("lo", true));
        assertTrue(p("*").matches("lo", true), "a glob is a glob: * names loopback too");
        // Loopback is recognised by its flags, not its name.
        assertFalse(p("all").matches("lo2", true));
        assertTrue(p("all").matches("lo2", false));
    }

    @Test
    void exclusionsWin() {
        IfacePatterns x = p("all", "veth*,docker?");
        assertTrue(x.matches("eth0", false));
        assertFalse(x.matches("veth1", false));
        assertFalse(x.matches("docker0", false));
        assertTrue(x.matches("docker10", false));
        assertFalse(p("eth0", "eth0").matches("eth0", false));
        assertFalse(p("all,lo", "lo").matches("lo", true));
    }

    @Test
    void flagRepeatedAndSpacesAroundCommas() {
        IfacePatterns x = IfacePatterns.parse(List.of("eth0, ens*", "wg0"), List.of("ens9", "ens8"));
        assertEquals(List.of("eth0", "wg0"), x.literals());
        assertTrue(x.matches("ens3", false));
        assertFalse(x.matches("ens8", false));
        assertEquals("eth0,ens*,wg0 excluding ens9,ens8", x.toString());
        assertEquals(x, IfacePatterns.parse(List.of("eth0,ens*,wg0"), List.of("ens9,ens8")));
        assertNotEquals(x, IfacePatterns.parse(List.of("eth0,ens*,wg0"), List.of("ens9")));
    }

    @Test
    void literalsAreTheNamesWithoutGlobCharacters() {
        assertEquals(List.of("eth0", "br0"), p("eth0,ens*,br0,all,veth?,wg[0-9]").literals());
        assertEquals(List.of(), p("all").literals());
    }

    @Test
    void requireLiteralsNamesTheFirstPlainNameThatDoesNotExistAndIgnoresGlobs() {
        IfacePatterns x = p("eth0,ens*,br0");
        x.requireLiterals(java.util.Set.of("eth0", "br0")::contains); // ens* need not exist
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> x.requireLiterals(java.util.Set.of("eth0", "ens3")::contains));
        assertEquals("interface \"br0\" does not exist: pick one from `ip link` with --iface", e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "eth0,,eth1      | --iface \"eth0,,eth1\" has an empty entry: separate names with single commas, e.g. eth0,ens*",
            "eth0,           | --iface \"eth0,\" has an empty entry: separate names with single commas, e.g. eth0,ens*",
            "eth[0-3         | invalid --iface \"eth[0-3\": '[' at position 4 is not closed with ']'",
            "eth[]           | invalid --iface \"eth[]\": '[' at position 4 is not closed with ']'",
            "eth]            | invalid --iface \"eth]\": ']' without '['",
            "eth[3-0]        | invalid --iface \"eth[3-0]\": range 3-0 is backwards",
            "eth\\           | invalid --iface \"eth\\\": it ends with a lone '\\'",
            "eth/0           | invalid --iface \"eth/0\": interface names cannot contain '/'",
            "eth:0           | invalid --iface \"eth:0\": interface names cannot contain ':'",
            "abcdefghijklmnop | invalid --iface \"abcdefghijklmnop\": longer than 15 characters, the longest interface name Linux allows",
            "..              | invalid --iface \"..\": not an interface name",
    })
    void badPatternsGetOneLine(String iface, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p(iface));
        assertEquals(message, e.getMessage());
    }

    @Test
    void badExclusions() {
        assertEquals("--iface-exclude all would exclude every interface: name the ones to leave out",
                assertThrows(IllegalArgumentException.class, () -> p("eth0", "all")).getMessage());
        assertEquals("invalid --iface-exclude \"veth[\": '[' at position 5 is not closed with ']'",
                assertThrows(IllegalArgumentException.class, () -> p("eth0", "veth[")).getMessage());
        assertEquals("invalid --iface \"a b\": interface names cannot contain 'whitespace'",
                assertThrows(IllegalArgumentException.class, () -> p("a b")).getMessage());
    }

    @Test
    void fifteenCharactersIsTheLimitAndGlobsMayMatchLongNames() {
        p("abcdefghijklmno");
        assertTrue(p("abcdefghijklmn*").matches("abcdefghijklmno", false));
    }
}
