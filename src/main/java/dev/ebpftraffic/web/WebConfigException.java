package dev.ebpftraffic.web;

import java.nio.file.Path;

/** A --web.config.file that cannot be used; the message is one line naming the file and the problem. */
public final class WebConfigException extends IllegalStateException {
    WebConfigException(Path file, String problem) {
        super("invalid --web.config.file " + file + ": " + problem);
    }
}
