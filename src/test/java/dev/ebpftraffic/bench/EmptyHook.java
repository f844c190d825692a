package dev.ebpftraffic.bench;

import dev.ebpftraffic.bpf.AttachMode;
import dev.ebpftraffic.bpf.TcAttachment;
import dev.ebpftraffic.libbpf.Libbpf;
import dev.ebpftraffic.sys.Libc;

import java.nio.file.Path;

/**
 * Attaches the empty TC program (bpf/bench/empty.bpf.o) to an interface's ingress and egress
 * hooks the way the exporter attaches its own (TCX), prints "attached", and holds them until
 * SIGTERM. bench/throughput.sh runs it to measure what any
 * program at these hooks costs, next to what the exporter costs. A main, not a test.
 */
public final class EmptyHook {
    private EmptyHook() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: EmptyHook OBJECT IFACE");
            System.exit(2);
        }
        Libbpf lib = Libbpf.load(Libbpf.DEFAULT_PATH);
        int ifindex = Libc.ifNameToIndex(args[1]);
        if (ifindex == 0) {
            System.err.println("interface \"" + args[1] + "\" does not exist");
            System.exit(1);
        }
        FileProgram empty = FileProgram.open(lib, Path.of(args[0]), "tc_empty");
        TcAttachment hooks;
        try {
            hooks = TcAttachment.attach(lib, args[1], ifindex, empty.fd(), empty.fd(), AttachMode.TCX, System.err::println);
        } catch (RuntimeException e) {
            empty.close();
            throw e;
        }
        // Detach on SIGTERM (TCX links would also go with the process, but leave nothing to chance).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            hooks.close();
            empty.close();
        }));
        System.out.println("attached");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE); // until SIGTERM
    }
}
