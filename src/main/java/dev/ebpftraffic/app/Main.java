package dev.ebpftraffic.app;

import dev.ebpftraffic.cli.Log;
import dev.ebpftraffic.cli.ControlChars;
import dev.ebpftraffic.cli.Options;
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
        Options o;
        try {
            o = Options.parse(args);
        } catch (UsageException e) {
            System.err.println("ebpf-traffic-exporter: " + ControlChars.escape(e.getMessage()));
            System.exit(2);
            return;
        }
        if (o.help()) {
            System.out.print(Options.USAGE);
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
            exporter = Exporter.start(o);
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
}
