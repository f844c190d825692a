package dev.ebpftraffic.testing;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A test that needs root and a BPF-capable kernel. It runs by default. Where it cannot run it
 * is skipped, except with CI=true, where it fails: a green CI run must have tested the kernel.
 * Leave these out on a laptop with {@code make unit-test} (-Dgroups='!kernel').
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("kernel")
@ExtendWith(KernelTestCondition.class)
public @interface KernelTest {
}
