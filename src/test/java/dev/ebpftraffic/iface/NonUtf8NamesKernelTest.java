package dev.ebpftraffic.iface;

import dev.ebpftraffic.sys.Libc;
import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.testing.KernelTest;
import dev.ebpftraffic.testing.NetNs;
import dev.ebpftraffic.testing.Setns;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Two real interfaces named n\xff and n\xfe (bytes that are not UTF-8; Linux allows them), made in
 * the test's namespace: netlink and if_indextoname give each its own escaped name, the same each time.
 */
@KernelTest
class NonUtf8NamesKernelTest {
    @Test
    void eachInterfaceKeepsItsOwnName() {
        try (NetNs net = NetNs.pair()) {
            // $'n\xff' and $'n\xfe' as argv bytes: Java would encode a String as UTF-8, so the shell's printf makes them.
            Cmd.run("sh", "-c", "ip -n " + net.b + " link add \"$(printf 'n\\377')\" type veth peer name \"$(printf 'n\\376')\"").ok();
            for (int round = 0; round < 2; round++) {
                Map<String, Integer> names = Setns.call(net.b, () -> {
                    try (Netlink nl = Netlink.open(false)) {
                        Map<String, Integer> m = new TreeMap<>();
                        for (Link l : nl.links()) {
                            m.put(l.name(), l.ifindex());
                        }
                        return m;
                    }
                });
                assertEquals(java.util.Set.of("lo", "n\\xfe", "n\\xff", net.ifB), names.keySet(), "round " + round);
                for (String n : List.of("n\\xfe", "n\\xff")) {
                    int index = names.get(n);
                    assertEquals(n, Setns.call(net.b, () -> Libc.ifIndexToName(index)), "if_indextoname of " + index);
                }
            }
        }
    }
}
