package dev.ebpftraffic.web;

import dev.ebpftraffic.config.InputFiles;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * --web.config.file, in the format of the Prometheus exporter-toolkit
 * (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):
 *
 * <pre>
 * tls_server_config:
 *   cert_file: server.crt          # or cert: inline PEM
 *   key_file: server.key           # or key: inline PEM
 *   client_auth_type: RequireAndVerifyClientCert
 *   client_ca_file: ca.crt         # or client_ca: inline PEM
 *   min_version: TLS12             # TLS12 or TLS13; default TLS12
 *   max_version: TLS13
 *   cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
 *   curve_preferences: [X25519, CurveP256]
 *   prefer_server_cipher_suites: true
 *   client_allowed_sans: [client.example]
 * http_server_config:
 *   headers: {X-Frame-Options: deny}
 * basic_auth_users:
 *   prometheus: $2y$10$...         # htpasswd -nBC 10 prometheus
 * auth_excluded_paths: [/-/healthy, /-/ready]
 * </pre>
 *
 * Like the toolkit, unknown fields are errors and relative file names are relative to the directory
 * of the config file. Everything is read and checked once, at start-up: a bad file stops the
 * exporter with one line that names the problem (and the line in the file). Restart to reload.
 */
public final class WebConfig {
    /** Headers the toolkit lets a config set, with the values it allows (empty: any value). */
    static final Map<String, List<String>> ALLOWED_HEADERS = Map.of(
            "Strict-Transport-Security", List.of(),
            "X-Content-Type-Options", List.of("nosniff"),
            "X-Frame-Options", List.of("deny", "sameorigin"),
            "X-XSS-Protection", List.of(),
            "Content-Security-Policy", List.of());

    private final Path file;
    private final TlsConfig tls;
    private final BasicAuth auth;
    private final Map<String, String> headers;
    private final Set<String> authExcludedPaths;

    private WebConfig(Path file, TlsConfig tls, BasicAuth auth, Map<String, String> headers, Set<String> authExcludedPaths) {
        this.file = file;
        this.tls = tls;
        this.auth = auth;
        this.headers = headers;
        this.authExcludedPaths = authExcludedPaths;
    }

    /** No TLS, no auth, no extra headers: what runs without --web.config.file. */
    public static WebConfig none() {
        return new WebConfig(null, null, null, Map.of(), Set.of());
    }

    /** Reads and checks the file, certificates and keys included. Throws WebConfigException. */
    public static WebConfig load(Path file) {
        String text;
        try {
            text = InputFiles.readUtf8(file);
        } catch (NoSuchFileException e) {
            throw new WebConfigException(file, "the file does not exist");
        } catch (InputFiles.Refused e) {
            throw new WebConfigException(file, "it " + e.getMessage() + "; give a YAML file");
        } catch (CharacterCodingException e) {
            throw new WebConfigException(file, "the file is not UTF-8 text");
        } catch (IOException e) {
            throw new WebConfigException(file, "cannot read it: " + e.getMessage());
        }
        try {
            return parse(file, text);
        } catch (Problem p) {
            throw new WebConfigException(file, p.getMessage());
        }
    }

    static WebConfig parse(Path file, String text) {
        Node root;
        try {
            LoaderOptions lo = new LoaderOptions();
            lo.setAllowDuplicateKeys(false);
            lo.setAllowRecursiveKeys(false);
            lo.setMaxAliasesForCollections(10);
            root = new Yaml(new SafeConstructor(lo)).compose(new StringReader(text));
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String what = e.getProblem() != null ? e.getProblem() : e.getContext();
            throw new Problem(m, "not valid YAML: " + what);
        } catch (YAMLException e) {
            throw new Problem(null, "not valid YAML: " + e.getMessage());
        }
        Path dir = file.toAbsolutePath().getParent();
        TlsConfig.Builder tls = new TlsConfig.Builder();
        Map<String, String> users = new LinkedHashMap<>();
        Map<String, String> headers = new LinkedHashMap<>();
        Set<String> excluded = new LinkedHashSet<>();
        for (NodeTuple t : mapping(root, "the top level")) {
            String key = key(t);
            Node v = t.getValueNode();
            switch (key) {
                case "tls_server_config" -> {
                    for (NodeTuple f : mapping(v, key)) {
                        String k = key(f);
                        Node fv = f.getValueNode();
                        switch (k) {
                            case "cert" -> tls.cert = scalar(fv, k);
                            case "key" -> tls.key = scalar(fv, k);
                            case "client_ca" -> tls.clientCa = scalar(fv, k);
                            case "cert_file" -> tls.certFile = path(dir, scalar(fv, k));
                            case "key_file" -> tls.keyFile = path(dir, scalar(fv, k));
                            case "client_ca_file" -> tls.clientCaFile = path(dir, scalar(fv, k));
                            case "client_auth_type" -> tls.clientAuth = scalar(fv, k);
                            case "min_version" -> tls.minVersion = scalar(fv, k);
                            case "max_version" -> tls.maxVersion = scalar(fv, k);
                            case "cipher_suites" -> tls.cipherSuites = list(fv, k);
                            case "curve_preferences" -> tls.curves = list(fv, k);
                            case "prefer_server_cipher_suites" -> tls.preferServerCipherSuites = bool(fv, k);
                            case "client_allowed_sans" -> tls.allowedSans = list(fv, k);
                            default -> throw unknown(f, k, key, "cert_file, key_file, cert, key, client_auth_type, "
                                    + "client_ca_file, client_ca, min_version, max_version, cipher_suites, "
                                    + "curve_preferences, prefer_server_cipher_suites, client_allowed_sans");
                        }
                    }
                }
                case "http_server_config" -> {
                    for (NodeTuple f : mapping(v, key)) {
                        String k = key(f);
                        switch (k) {
                            case "http2" -> bool(f.getValueNode(), k); // HTTP/1.1 only: the JDK server has no HTTP/2
                            case "headers" -> {
                                for (NodeTuple h : mapping(f.getValueNode(), k)) {
                                    String name = key(h);
                                    String value = scalar(h.getValueNode(), name);
                                    List<String> allowed = ALLOWED_HEADERS.get(name);
                                    if (allowed == null) {
                                        throw new Problem(h.getKeyNode().getStartMark(), "HTTP header \"" + name
                                                + "\" can not be configured; allowed: " + String.join(", ", new java.util.TreeSet<>(ALLOWED_HEADERS.keySet())));
                                    }
                                    if (!allowed.isEmpty() && !allowed.contains(value)) {
                                        throw new Problem(h.getValueNode().getStartMark(), "invalid value for " + name
                                                + ": expected one of " + allowed + ", got \"" + value + "\"");
                                    }
                                    headers.put(name, value);
                                }
                            }
                            default -> throw unknown(f, k, key, "headers, http2");
                        }
                    }
                }
                case "basic_auth_users" -> {
                    for (NodeTuple u : mapping(v, key)) {
                        String user = key(u);
                        String hash = scalar(u.getValueNode(), user);
                        if (!BasicAuth.isBcryptHash(hash)) {
                            throw new Problem(u.getValueNode().getStartMark(), "basic_auth_users: the password of user \""
                                    + user + "\" is not a bcrypt hash ($2y$, $2a$ or $2b$, cost 4-" + BasicAuth.MAX_COST + "); make one with `htpasswd -nBC 10 "
                                    + user + "`");
                        }
                        if (BasicAuth.cost(hash) > BasicAuth.MAX_COST) {
                            throw new Problem(u.getValueNode().getStartMark(), "basic_auth_users: the bcrypt cost of user \""
                                    + user + "\" is " + BasicAuth.cost(hash) + ", above the maximum " + BasicAuth.MAX_COST
                                    + " (each failed login would cost that much CPU); make a new hash with `htpasswd -nBC "
                                    + "10 " + user + "`");
                        }
                        users.put(user, hash);
                    }
                }
                case "auth_excluded_paths" -> {
                    for (String p : list(v, key)) {
                        if (!p.startsWith("/")) {
                            throw new Problem(v.getStartMark(), "auth_excluded_paths: \"" + p + "\" is not a path starting with /");
                        }
                        excluded.add(p);
                    }
                }
                case "rate_limit" -> throw new Problem(t.getKeyNode().getStartMark(),
                        "rate_limit is not supported by this exporter; remove it");
                default -> throw unknown(t, key, "the top level",
                        "tls_server_config, http_server_config, basic_auth_users, auth_excluded_paths");
            }
        }
        TlsConfig tlsConfig = tls.build();
        if (!excluded.isEmpty() && users.isEmpty()) {
            throw new Problem(null, "auth_excluded_paths is set but basic_auth_users is empty");
        }
        return new WebConfig(file, tlsConfig, users.isEmpty() ? null : new BasicAuth(users), Map.copyOf(headers), Set.copyOf(excluded));
    }

    private static Path path(Path dir, String name) {
        if (name.isEmpty()) {
            return null;
        }
        Path p = Path.of(name);
        return p.isAbsolute() || dir == null ? p : dir.resolve(p);
    }

    // --- YAML node helpers; every error names the line ---

    /** A config error with its position; turned into a WebConfigException by load(). */
    static final class Problem extends RuntimeException {
        Problem(Mark mark, String message) {
            super(mark == null ? message : "line " + (mark.getLine() + 1) + ": " + message);
        }
    }

    private static Problem unknown(NodeTuple t, String key, String where, String known) {
        return new Problem(t.getKeyNode().getStartMark(), "unknown field \"" + key + "\" in " + where + " (known: " + known + ")");
    }

    private static boolean isNull(Node n) {
        return n == null || (n instanceof ScalarNode s && s.getTag().equals(Tag.NULL));
    }

    private static List<NodeTuple> mapping(Node n, String where) {
        if (isNull(n)) {
            return List.of();
        }
        if (!(n instanceof MappingNode m)) {
            throw new Problem(n.getStartMark(), where + " must be a mapping (key: value lines)");
        }
        Set<String> seen = new java.util.HashSet<>();
        for (NodeTuple t : m.getValue()) {
            if (!seen.add(key(t))) {
                throw new Problem(t.getKeyNode().getStartMark(), "\"" + key(t) + "\" appears twice in " + where);
            }
        }
        return m.getValue();
    }

    private static String key(NodeTuple t) {
        if (!(t.getKeyNode() instanceof ScalarNode s)) {
            throw new Problem(t.getKeyNode().getStartMark(), "keys must be plain strings");
        }
        return s.getValue();
    }

    private static String scalar(Node n, String field) {
        if (isNull(n)) {
            return "";
        }
        if (!(n instanceof ScalarNode s)) {
            throw new Problem(n.getStartMark(), field + " must be a single value, not a list or mapping");
        }
        return s.getValue();
    }

    private static boolean bool(Node n, String field) {
        String s = scalar(n, field);
        return switch (s) {
            case "true", "True", "TRUE" -> true;
            case "false", "False", "FALSE", "" -> false;
            default -> throw new Problem(n.getStartMark(), field + " must be true or false, not \"" + s + "\"");
        };
    }

    private static List<String> list(Node n, String field) {
        if (isNull(n)) {
            return List.of();
        }
        if (!(n instanceof SequenceNode seq)) {
            throw new Problem(n.getStartMark(), field + " must be a list");
        }
        List<String> out = new ArrayList<>();
        for (Node item : seq.getValue()) {
            out.add(scalar(item, field + " item"));
        }
        return out;
    }

    // --- accessors ---

    /** null when the server speaks plain HTTP. */
    public TlsConfig tls() {
        return tls;
    }

    /** null when no basic_auth_users are configured. */
    public BasicAuth auth() {
        return auth;
    }

    public Map<String, String> headers() {
        return headers;
    }

    public Set<String> authExcludedPaths() {
        return authExcludedPaths;
    }

    public Path file() {
        return file;
    }

    @Override
    public String toString() {
        return "WebConfig[" + (file == null ? "none" : file) + ", tls=" + (tls != null) + ", basic_auth="
                + (auth == null ? 0 : auth.userCount()) + " users, headers=" + headers.keySet() + "]";
    }
}
