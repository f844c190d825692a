package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;

/** bcrypt hashes made by Apache's htpasswd, as the exporter-toolkit docs tell operators to make them. */
public final class Htpasswd {
    private Htpasswd() {
    }

    /** `htpasswd -nbBC COST USER PASSWORD`, returning only the hash ($2y$...). */
    public static String hash(String user, String password, int cost) {
        String htpasswd = Cmd.require("htpasswd", "apache2-utils");
        String line = Cmd.run(htpasswd, "-nbBC", Integer.toString(cost), user, password).ok().stdout().strip();
        if (!line.startsWith(user + ":$2y$")) {
            throw new AssertionError("unexpected htpasswd output: " + line);
        }
        return line.substring(user.length() + 1);
    }
}
