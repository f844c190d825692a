package dev.ebpftraffic.testing;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernel's own counters of an interface in a namespace ({@code ip -n NS -s -j link show dev X}),
 * and (protocolCounters) the namespace's /proc/net/snmp and /proc/net/netstat.
 * On a veth, rx_* of one end are the tx_* of its peer: one per skb handed over, bytes = skb->len
 * including the Ethernet header, a GSO skb counting once with its full length.
 */
public record LinkStats(long rxPackets, long rxBytes, long rxDropped, long txPackets, long txBytes, long txDropped) {
    private static final Pattern RX = Pattern.compile("\"rx\":\\{([^}]*)}");
    private static final Pattern TX = Pattern.compile("\"tx\":\\{([^}]*)}");

    public static LinkStats read(String ns, String dev) {
        String json = Cmd.run("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).ok().stdout();
        Matcher rx = RX.matcher(json);
        Matcher tx = TX.matcher(json);
        if (!rx.find() || !tx.find()) {
            throw new AssertionError("no stats64 rx/tx in: " + json);
        }
        return new LinkStats(field(rx.group(1), "packets"), field(rx.group(1), "bytes"), field(rx.group(1), "dropped"),
                field(tx.group(1), "packets"), field(tx.group(1), "bytes"), field(tx.group(1), "dropped"));
    }

    private static long field(String obj, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":(\\d+)").matcher(obj);
        if (!m.find()) {
            throw new AssertionError("no " + name + " in " + obj);
        }
        return Long.parseLong(m.group(1));
    }

    /** Waits until the counters have not moved for quietFor (e.g. the last MLD report went out). */
    public static LinkStats awaitQuiet(String ns, String dev, Duration quietFor, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        LinkStats last = read(ns, dev);
        long since = System.nanoTime();
        while (true) {
            sleep(100);
            LinkStats now = read(ns, dev);
            if (!now.equals(last)) {
                last = now;
                since = System.nanoTime();
            } else if (System.nanoTime() - since >= quietFor.toNanos()) {
                return now;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(dev + " in " + ns + " did not go quiet for " + quietFor + " within " + timeout + ": " + now);
            }
        }
    }

    /** Every counter of /proc/net/snmp and /proc/net/netstat in namespace ns, as "Tcp.InSegs", "TcpExt.TCPLossProbes", ... */
    public static Map<String, Long> protocolCounters(String ns) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String file : new String[] {"/proc/net/snmp", "/proc/net/netstat"}) {
            String[] lines = Cmd.run("ip", "netns", "exec", ns, "cat", file).ok().stdout().split("\n");
            for (int i = 0; i + 1 < lines.length; i += 2) {
                String[] names = lines[i].split("\\s+");
                String[] values = lines[i + 1].split("\\s+");
                String group = names[0].substring(0, names[0].length() - 1);
                for (int j = 1; j < names.length && j < values.length; j++) {
                    try {
                        out.put(group + "." + names[j], Long.parseLong(values[j]));
                    } catch (NumberFormatException e) {
                        // not a counter
                    }
                }
            }
        }
        return out;
    }

    /** The counters that changed from before to after, with their growth. */
    public static Map<String, Long> changed(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> out = new LinkedHashMap<>();
        after.forEach((k, v) -> {
            long d = v - before.getOrDefault(k, 0L);
            if (d != 0) {
                out.put(k, d);
            }
        });
        return out;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
