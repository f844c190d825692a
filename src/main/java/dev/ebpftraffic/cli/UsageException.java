package dev.ebpftraffic.cli;

/** Bad command-line input: printed as one line, exit code 2. */
public class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}
