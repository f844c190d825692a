package dev.ebpftraffic.bpf;

import java.util.Locale;

/** How the programs are attached to the TC hook. */
public enum AttachMode {
    /** TCX links when the kernel has them (6.6+), else the legacy clsact qdisc. */
    AUTO,
    /** TCX links only. */
    TCX,
    /** A cls_bpf filter on a clsact qdisc (kernels before 6.6). */
    LEGACY;

    public static AttachMode parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid --attach-mode \"" + s + "\": use auto, tcx or legacy");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
