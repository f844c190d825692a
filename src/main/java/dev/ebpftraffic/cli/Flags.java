package dev.ebpftraffic.cli;

/**
 * The flag syntax both commands share (the exporter and top): {@code --name value} or
 * {@code --name=value}. Errors are one-line UsageExceptions that point at the command's help.
 */
public final class Flags {
    private final String[] args;
    private final String help;
    private int i = -1;
    private String name;
    private String inline;
    private String value;

    /** help: how the command's help is asked for, e.g. "--help" or "top --help". */
    public Flags(String[] args, String help) {
        this.args = args;
        this.help = help;
    }

    /** Moves to the next argument; false when there is none. */
    public boolean next() {
        if (++i >= args.length) {
            return false;
        }
        String a = args[i];
        int eq = a.startsWith("--") ? a.indexOf('=') : -1;
        name = eq >= 0 ? a.substring(0, eq) : a;
        inline = eq >= 0 ? a.substring(eq + 1) : null;
        value = inline;
        return true;
    }

    /** The argument as given. */
    public String arg() {
        return args[i];
    }

    /** The flag's name, without an =value. */
    public String name() {
        return name;
    }

    /** Whether the value came with the flag (--name=value). */
    public boolean hasInlineValue() {
        return inline != null;
    }

    /** The flag's value: after '=', or else the next argument (consumed). */
    public String value() {
        if (value == null) {
            if (i + 1 >= args.length) {
                throw new UsageException("flag " + name + " needs a value, see " + help);
            }
            value = args[++i];
        }
        return value;
    }

    /** A one-line error for a flag this command does not know. */
    public UsageException unknown() {
        return new UsageException("unknown flag " + name + ", see " + help);
    }
}
