package dev.ebpftraffic.web;

/**
 * --addr: ":PORT" (all addresses), "HOST:PORT" or "[IPV6]:PORT", as Go's net.Listen takes it.
 *
 * @param host null for all addresses
 */
public record ListenAddress(String host, int port) {
    public static ListenAddress parse(String s) {
        String hint = "; use :PORT, HOST:PORT or [IPV6]:PORT, e.g. :9091";
        int colon = s.lastIndexOf(':');
        if (colon < 0 || s.startsWith("[") && s.endsWith("]")) { // "9091", "[::1]"
            throw new IllegalArgumentException("invalid --addr \"" + s + "\": missing port" + hint);
        }
        String host = s.substring(0, colon);
        String portText = s.substring(colon + 1);
        if (host.startsWith("[")) {
            if (!host.endsWith("]") || host.length() < 3) {
                throw new IllegalArgumentException("invalid --addr \"" + s + "\": unbalanced brackets" + hint);
            }
            host = host.substring(1, host.length() - 1);
            if (host.indexOf(':') < 0) {
                throw new IllegalArgumentException("invalid --addr \"" + s + "\": brackets are for IPv6 addresses" + hint);
            }
        } else if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("invalid --addr \"" + s + "\": IPv6 addresses need brackets, e.g. [::1]:9091");
        } else if (host.indexOf('[') >= 0 || host.indexOf(']') >= 0) {
            throw new IllegalArgumentException("invalid --addr \"" + s + "\": unbalanced brackets" + hint);
        }
        int port;
        if (portText.isEmpty() || portText.length() > 5 || !portText.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("invalid --addr \"" + s + "\": port \"" + portText + "\" is not a number" + hint);
        }
        port = Integer.parseInt(portText);
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("invalid --addr \"" + s + "\": port " + port + " is out of range 1-65535");
        }
        return new ListenAddress(host.isEmpty() ? null : host, port);
    }

    @Override
    public String toString() {
        if (host == null) {
            return ":" + port;
        }
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
