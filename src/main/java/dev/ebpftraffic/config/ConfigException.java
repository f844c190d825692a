package dev.ebpftraffic.config;

/** A bad --config.file: the message names the file and line and says what to fix. */
public class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
