package dev.ebpftraffic.bpf;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Which kernels get the per-process programs loaded (one the kernel refuses would fail the whole object). */
class ProcessSupportTest {
    @Test
    void needsBtfAndLinux511() {
        assertNull(WorkloadAttachment.processSupport("6.18.44-fc-v1045", true));
        assertNull(WorkloadAttachment.processSupport("5.11.0", true));
        assertNull(WorkloadAttachment.processSupport("5.15.0-91-generic", true));
        assertEquals("Linux 5.10 is older than 5.11", WorkloadAttachment.processSupport("5.10.0-28-amd64", true));
        assertEquals("Linux 4.19 is older than 5.11", WorkloadAttachment.processSupport("4.19.0", true));
        assertEquals("the kernel has no BTF (/sys/kernel/btf/vmlinux)", WorkloadAttachment.processSupport("6.1.0", false));
        assertEquals("cannot tell the kernel version from \"x\"", WorkloadAttachment.processSupport("x", true));
    }
}
