package dev.ebpftraffic.app;

import dev.ebpftraffic.cli.Log;
import dev.ebpftraffic.cli.ControlChars;
import dev.ebpftraffic.cli.Options;
import dev.ebpftraffic.cli.PersistOptions;
import dev.ebpftraffic.cli.ReverseDnsOptions;
import dev.ebpftraffic.cli.UsageException;
import dev.ebpftraffic.metrics.BuildInfo;

import java.util.concurrent.CountDownLatch;

/** Entry point: parse flags, start, run until SIGINT/SIGTERM, detach. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) throws InterruptedException, java.io.IOException {
        if (args.length > 0 && args[0].equals("top")) { // the live view in the terminal
            System.exit(Top.run(java.util.Arrays.copyOfRange(args, 1, args.length)));
            return;
        }
        if (args.length == 1 && args[0].equals(AotTraining.FLAG)) { // hidden: the AOT cache's training run (Makefile)
            System.exit(AotTraining.run());
            return;
        }
        if (args.length > 0 && args[0].equals("uninstall")) { // clean removal of pins and state
            System.exit(uninstall(java.util.Arrays.copyOfRange(args, 1, args.length)));
            return;
        }
        Options o;
        PersistOptions persist;
        ReverseDnsOptions dns;
        try {
            persist = PersistOptions.extract(args, false);
            dns = ReverseDnsOptions.extract(persist.rest());
            o = Options.parse(dns.rest().toArray(new String[0]));
        } catch (UsageException e) {
            System.err.println("ebpf-traffic-exporter: " + ControlChars.escape(e.getMessage()));
            System.exit(2);
            return;
        }
        if (o.help()) {
            System.out.print(Options.USAGE);
            System.out.print("\n" + PersistOptions.USAGE);
            System.out.print("\n" + ReverseDnsOptions.USAGE);
            return;
        }
        if (o.version()) {
            System.out.println("ebpf-traffic-exporter " + BuildInfo.current().version() + " (java " + Runtime.version() + ")");
            return;
        }
        Log.setLevel(o.logLevel());
        Log.setFormat(o.logFormat());

        Exporter exporter;
        try {
            exporter = Exporter.start(o, true, persist, dns);
        } catch (RuntimeException e) {
            Log.error(e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Log.info("shutting down");
            exporter.close();
            stopped.countDown();
        }, "shutdown"));
        stopped.await();
    }

    /** `uninstall`: removes what --bpf.pin-path and --state.file left (links are detached with their pins). */
    static int uninstall(String[] args) {
        PersistOptions p;
        try {
            p = PersistOptions.extract(args, true);
            if (!p.rest().isEmpty()) {
                throw new UsageException("uninstall takes only --bpf.pin-path and --state.file, not " + p.rest().get(0));
            }
        } catch (UsageException e) {
            System.err.println("ebpf-traffic-exporter: " + e.getMessage());
            return 2;
        }
        try {
            java.util.List<String> removed = dev.ebpftraffic.persist.Persistence.uninstall(p.pinPath(), p.stateFile());
            for (String r : removed) {
                System.out.println("removed " + r);
            }
            if (removed.isEmpty()) {
                System.out.println("nothing to remove");
            }
            return 0;
        } catch (RuntimeException e) {
            System.err.println("ebpf-traffic-exporter: uninstall: " + e.getMessage());
            return 1;
        }
    }
}
