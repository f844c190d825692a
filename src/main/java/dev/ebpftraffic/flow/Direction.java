package dev.ebpftraffic.flow;

/** enum direction in bpf/traffic.h; label() is the value of the metrics' direction label. */
public enum Direction {
    INBOUND(0, "inbound"),   // DIR_INGRESS
    OUTBOUND(1, "outbound"); // DIR_EGRESS

    private final int code;
    private final String label;

    Direction(int code, String label) {
        this.code = code;
        this.label = label;
    }

    public int code() {
        return code;
    }

    public String label() {
        return label;
    }

    public static Direction ofCode(int code) {
        return switch (code) {
            case 0 -> INBOUND;
            case 1 -> OUTBOUND;
            default -> throw new IllegalArgumentException("unknown direction code " + code);
        };
    }
}
