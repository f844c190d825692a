package dev.ebpftraffic.sys;

/** The errno values the exporter reacts to (Linux, all architectures we build for). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int E2BIG = 7;
    public static final int EBADF = 9;
    public static final int EACCES = 13;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int ENOTSUPP = 524; // kernel-internal, leaks out of some bpf() commands

    private Errno() {
    }
}
