package dev.ebpftraffic.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reading a file an operator named (config, web config, certificates): only a regular file (a FIFO
 * would block the start for ever, a device such as /dev/zero never ends), at most {@link #MAX_BYTES}.
 * Symbolic links are followed, as Kubernetes mounts secrets through them.
 */
public final class InputFiles {
    /** 3 MiB: SnakeYAML's own limit for a document, and far above any config or certificate chain. */
    public static final int MAX_BYTES = 3 << 20;

    /** Why a file was refused, as a phrase to follow its name: "is not a regular file ...". */
    public static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }

    private InputFiles() {
    }

    /** Throws NoSuchFileException, Refused or another IOException. */
    public static byte[] read(Path p) throws IOException {
        checkRegular(p);
        try (InputStream in = Files.newInputStream(p)) {
            byte[] b = in.readNBytes(MAX_BYTES + 1);
            if (b.length > MAX_BYTES) {
                throw new Refused("is larger than " + (MAX_BYTES >> 20) + " MiB");
            }
            return b;
        }
    }

    /** As {@link #read}, decoded strictly: CharacterCodingException when it is not UTF-8. */
    public static String readUtf8(Path p) throws IOException {
        return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(read(p))).toString();
    }

    /** Throws NoSuchFileException or Refused unless p is (a link to) a regular file. Does not open it. */
    public static void checkRegular(Path p) throws IOException {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
        if (a.isDirectory()) {
            throw new Refused("is a directory, not a file");
        }
        if (!a.isRegularFile()) {
            throw new Refused("is not a regular file (a FIFO, socket or device)");
        }
    }
}
