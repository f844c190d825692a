package dev.ebpftraffic.bench;

import dev.ebpftraffic.bpf.BpfObject;
import dev.ebpftraffic.bpf.WorkloadAttachment;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.workload.Cgroup2Mount;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * For bench/workloads.sh: loads the exporter's embedded object and, on the cgroup v2 root through the
 * exporter's own WorkloadAttachment, attaches what {@code --workloads auto} attaches (line "on": the
 * per-process pair cgroup_proc_ingress/egress, proc_sock_create and the proc_scan pass), or the
 * per-workload pair cgroup_wl_ingress/egress only (line "cg", as {@code --workloads cgroup}), or
 * detaches (line "off"), answering each line with the same word once done. So rounds alternate
 * without restarting anything. EOF or an error: detaches and exits (and the kernel detaches the links
 * of a process that dies).
 */
public final class WorkloadHook {
    public static void main(String[] args) throws Exception {
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        Cgroup2Mount m = Cgroup2Mount.find();
        if (!(m instanceof Cgroup2Mount.Found found)) {
            System.err.println(((Cgroup2Mount.Missing) m).message());
            System.exit(1);
            return;
        }
        Path root = found.mountPoint();
        try (BpfObject obj = BpfObject.openEmbedded(lib)) {
            obj.load();
            WorkloadAttachment a = null;
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            System.out.println("ready " + root);
            System.out.flush();
            try {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.equals("on") && !line.equals("cg") && !line.equals("off")) {
                        throw new IllegalArgumentException("expected on, cg or off, got " + line);
                    }
                    if (a != null) {
                        a.close();
                        a = null;
                    }
                    if (!line.equals("off")) {
                        boolean processes = line.equals("on");
                        a = WorkloadAttachment.attach(obj, root, processes);
                        if (a.processes() != processes) { // the measured mode must be the one asked for
                            throw new IllegalStateException("asked for processes=" + processes + ", attached " + a.processes());
                        }
                        if (a.scanError() != null) {
                            System.err.println("proc_scan: " + a.scanError());
                        }
                    }
                    System.out.println(line);
                    System.out.flush();
                }
            } finally {
                if (a != null) {
                    a.close();
                }
            }
        }
    }
}
