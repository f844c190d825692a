package dev.ebpftraffic.libbpf;

/** A failed native call, with the errno it reported (positive, 0 when unknown). */
public class LibbpfException extends RuntimeException {
    private final int errno;

    public LibbpfException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
