package dev.ebpftraffic.web;

import java.util.function.BooleanSupplier;

/** A readiness check that can say why it is not ready (the body of /-/ready's 503). */
public interface Readiness extends BooleanSupplier {
    /** Why not ready, one line; null for the default reason (the program is not attached). */
    String notReadyReason();
}
