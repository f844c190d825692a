package dev.ebpftraffic.app;

import dev.ebpftraffic.libbpf.LibbpfException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class PrivilegesTest {
    @Test
    void readsCapEff() {
        assertEquals(0xc000001000L, Privileges.effective("Name:\tjava\nCapInh:\t0\nCapEff:\t000000c000001000\nCapBnd:\t1\n"));
        assertEquals(-1, Privileges.effective("Name:\tjava\n"));
    }

    @Test
    void namesWhatIsMissing() {
        assertEquals(List.of(), Privileges.missing(0xc000001000L));
        assertEquals(List.of(), Privileges.missing(0x000001ffffffffffL)); // root
        assertEquals(List.of("CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"), Privileges.missing(0));
        assertEquals(List.of("CAP_PERFMON"), Privileges.missing(0x8000001000L));
        assertEquals(List.of("CAP_BPF"), Privileges.missing(0x4000001000L));
        assertEquals(List.of("CAP_NET_ADMIN"), Privileges.missing(0xc000000000L));
    }

    @Test
    void otherErrorsPassThrough() {
        LibbpfException e = new LibbpfException("cannot load: No such device", 19);
        assertSame(e, Privileges.explain(e));
    }
}
