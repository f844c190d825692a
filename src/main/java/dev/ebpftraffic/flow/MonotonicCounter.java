package dev.ebpftraffic.flow;

/**
 * Turns a kernel counter pair, which can restart from zero when its map entry is deleted
 * and recreated, into an exported pair that never goes down while the process lives.
 */
public class MonotonicCounter {
    private long kernelPackets;
    private long kernelBytes;
    private long packets;
    private long bytes;

    /** Feeds the kernel's current values. */
    public void observe(long kPackets, long kBytes) {
        // A smaller value than last time means the kernel entry started over: all of it is new.
        // Either value going down means that, for both (fewer packets can carry more bytes).
        boolean restarted = kPackets < kernelPackets || kBytes < kernelBytes;
        packets += restarted ? kPackets : kPackets - kernelPackets;
        bytes += restarted ? kBytes : kBytes - kernelBytes;
        kernelPackets = kPackets;
        kernelBytes = kBytes;
    }

    /** The kernel entry is gone; its next appearance counts from zero. */
    public void kernelEntryGone() {
        kernelPackets = 0;
        kernelBytes = 0;
    }

    public long packets() {
        return packets;
    }

    public long bytes() {
        return bytes;
    }
}
