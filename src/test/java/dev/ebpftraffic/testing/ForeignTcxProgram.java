package dev.ebpftraffic.testing;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.sys.Libc;

import java.util.ArrayList;
import java.util.List;

/**
 * Someone else's TCX programs on an interface: the test JVM loads its own copy of the traffic
 * object and links its programs at ingress and egress of iface inside ns. It stands for any
 * other TCX user that the exporter must leave alone. close() detaches (closes the links).
 */
public final class ForeignTcxProgram implements AutoCloseable {
    private final BpfObject obj;
    private final List<Integer> linkFds = new ArrayList<>();

    private ForeignTcxProgram(BpfObject obj) {
        this.obj = obj;
    }

    public static ForeignTcxProgram attach(String ns, String iface) {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        BpfObject obj = BpfObject.openEmbedded(lib);
        ForeignTcxProgram f = new ForeignTcxProgram(obj);
        try {
            obj.load();
            int[][] plan = {
                    {obj.programFd(BpfObject.PROG_INGRESS), Libbpf.BPF_TCX_INGRESS},
                    {obj.programFd(BpfObject.PROG_EGRESS), Libbpf.BPF_TCX_EGRESS}};
            for (int[] p : plan) {
                int fd = Setns.call(ns, () -> lib.linkCreate(p[0], Libc.ifNameToIndex(iface), p[1]));
                if (fd < 0) {
                    throw new AssertionError("bpf_link_create on " + iface + ": " + Libc.strerror(-fd));
                }
                f.linkFds.add(fd);
            }
            return f;
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    @Override
    public void close() {
        linkFds.forEach(Libc::close);
        linkFds.clear();
        obj.close();
    }
}
