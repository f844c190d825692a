package dev.ebpftraffic.flow;

import dev.ebpftraffic.flow.IpClass;

/** enum stat in bpf/traffic.h: must match it (BpfNamesTest checks the values in the BTF). */
public enum KernelStat {
    OVERFLOW_PRIVATE(0, "STAT_OVERFLOW_PRIVATE"),
    OVERFLOW_PUBLIC(1, "STAT_OVERFLOW_PUBLIC"),
    NON_IP(2, "STAT_NON_IP"),
    MALFORMED(3, "STAT_MALFORMED");

    private final int code;
    private final String cName;

    KernelStat(int code, String cName) {
        this.code = code;
        this.cName = cName;
    }

    public int code() {
        return code;
    }

    public String cName() {
        return cName;
    }

    public boolean isOverflow() {
        return this == OVERFLOW_PRIVATE || this == OVERFLOW_PUBLIC;
    }

    /** The ip_type of an overflow stat (the kernel classifies dst_ip like IpClass). */
    public String ipType() {
        return this == OVERFLOW_PRIVATE ? IpClass.PRIVATE : IpClass.PUBLIC;
    }

    public static KernelStat ofCode(int code) {
        for (KernelStat s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown stat code " + code);
    }
}
