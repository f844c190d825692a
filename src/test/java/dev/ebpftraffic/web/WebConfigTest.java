package dev.ebpftraffic.web;

import dev.ebpftraffic.testing.Cmd;
import dev.ebpftraffic.deploy.Htpasswd;
import dev.ebpftraffic.deploy.TestPki;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --web.config.file parsing: what is accepted, and the one-line message for each problem. */
class WebConfigTest {
    @TempDir
    static Path dir;
    static TestPki pki;
    static String hash;

    @BeforeAll
    static void setUp() {
        pki = TestPki.create(dir, null);
        hash = Htpasswd.hash("prometheus", "pw", 4);
    }

    static Path write(String name, String yaml) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, yaml);
        return p;
    }

    static String error(String name, String yaml) throws IOException {
        Path p = write(name, yaml);
        WebConfigException e = assertThrows(WebConfigException.class, () -> WebConfig.load(p));
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        String prefix = "invalid --web.config.file " + p + ": ";
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
        return e.getMessage().substring(prefix.length());
    }

    @Test
    void emptyFileMeansPlainHttpWithoutAuth() throws IOException {
        WebConfig c = WebConfig.load(write("empty.yml", ""));
        assertNull(c.tls());
        assertNull(c.auth());
        assertEquals(Map.of(), c.headers());
        WebConfig c2 = WebConfig.load(write("nulls.yml", "tls_server_config:\nbasic_auth_users:\nhttp_server_config:\n"));
        assertNull(c2.tls());
        assertNull(c2.auth());
    }

    @Test
    void fullConfigWithRelativePaths() throws IOException {
        WebConfig c = WebConfig.load(write("full.yml", """
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                  client_auth_type: RequireAndVerifyClientCert
                  client_ca_file: ca.crt
                  min_version: TLS13
                  curve_preferences: [X25519, CurveP256]
                  client_allowed_sans: [prometheus.client.test]
                http_server_config:
                  http2: false
                  headers:
                    X-Frame-Options: deny
                    X-Content-Type-Options: nosniff
                    Strict-Transport-Security: max-age=31536000; includeSubDomains
                    X-XSS-Protection: 1
                    Content-Security-Policy: "default-src 'self'"
                basic_auth_users:
                  prometheus: %s
                auth_excluded_paths: [/-/healthy, /-/ready]
                """.formatted(hash)));
        assertNotNull(c.tls());
        assertEquals(TlsConfig.ClientAuth.REQUIRE_AND_VERIFY_CLIENT_CERT, c.tls().clientAuth());
        assertArrayEquals(new String[]{"TLSv1.3"}, c.tls().parameters().getProtocols());
        assertArrayEquals(new String[]{"x25519", "secp256r1"}, c.tls().parameters().getNamedGroups());
        assertTrue(c.tls().parameters().getNeedClientAuth());
        assertEquals(Map.of("X-Frame-Options", "deny", "X-Content-Type-Options", "nosniff",
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains", "X-XSS-Protection", "1",
                "Content-Security-Policy", "default-src 'self'"), c.headers());
        assertEquals(1, c.auth().userCount());
        assertEquals(Set.of("/-/healthy", "/-/ready"), c.authExcludedPaths());
    }

    @Test
    void defaultsAreTls12To13AndNoClientCert() throws IOException {
        WebConfig c = WebConfig.load(write("tls.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"));
        assertArrayEquals(new String[]{"TLSv1.3", "TLSv1.2"}, c.tls().parameters().getProtocols());
        assertFalse(c.tls().parameters().getNeedClientAuth());
        assertFalse(c.tls().parameters().getWantClientAuth());
        assertEquals(TlsConfig.ClientAuth.NO_CLIENT_CERT, c.tls().clientAuth());
    }

    @Test
    void inlineCertAndKey() throws IOException {
        String cert = Files.readString(pki.serverCert()).indent(4);
        String key = Files.readString(pki.serverKey()).indent(4);
        WebConfig c = WebConfig.load(write("inline.yml", "tls_server_config:\n  cert: |\n" + cert + "  key: |\n" + key));
        assertNotNull(c.tls());
    }

    @Test
    void pkcs1AndSec1KeysAreConverted() throws IOException {
        String openssl = Cmd.require("openssl", "openssl");
        Cmd.run(openssl, "genrsa", "-traditional", "-out", dir.resolve("rsa1.key").toString(), "2048").ok();
        assertTrue(Files.readString(dir.resolve("rsa1.key")).startsWith("-----BEGIN RSA PRIVATE KEY-----"));
        Cmd.run(openssl, "req", "-x509", "-key", dir.resolve("rsa1.key").toString(), "-out", dir.resolve("rsa1.crt").toString(),
                "-subj", "/CN=localhost", "-days", "1").ok();
        assertNotNull(WebConfig.load(write("rsa1.yml", "tls_server_config: {cert_file: rsa1.crt, key_file: rsa1.key}\n")).tls());

        Cmd.run(openssl, "ecparam", "-name", "prime256v1", "-genkey", "-out", dir.resolve("ec.key").toString()).ok();
        assertTrue(Files.readString(dir.resolve("ec.key")).contains("-----BEGIN EC PRIVATE KEY-----"));
        Cmd.run(openssl, "req", "-x509", "-key", dir.resolve("ec.key").toString(), "-out", dir.resolve("ec.crt").toString(),
                "-subj", "/CN=localhost", "-days", "1").ok();
        assertNotNull(WebConfig.load(write("ec.yml", "tls_server_config: {cert_file: ec.crt, key_file: ec.key}\n")).tls());

        Cmd.run(openssl, "genpkey", "-algorithm", "ed25519", "-out", dir.resolve("ed.key").toString()).ok();
        Cmd.run(openssl, "req", "-x509", "-key", dir.resolve("ed.key").toString(), "-out", dir.resolve("ed.crt").toString(),
                "-subj", "/CN=localhost", "-days", "1").ok();
        assertNotNull(WebConfig.load(write("ed.yml", "tls_server_config: {cert_file: ed.crt, key_file: ed.key}\n")).tls());
    }

    @Test
    void problemsAreNamedOnOneLine() throws IOException {
        Path missing = dir.resolve("does-not-exist.yml");
        WebConfigException e = assertThrows(WebConfigException.class, () -> WebConfig.load(missing));
        assertEquals("invalid --web.config.file " + missing + ": the file does not exist", e.getMessage());

        assertEquals("line 2: not valid YAML: mapping values are not allowed here",
                error("yaml.yml", "basic_auth_users:\n  a: b: c\n"));
        assertEquals("line 1: unknown field \"tls_config\" in the top level (known: tls_server_config, "
                        + "http_server_config, basic_auth_users, auth_excluded_paths)",
                error("unknown.yml", "tls_config:\n  cert_file: x\n"));
        assertEquals("line 3: unknown field \"certfile\" in tls_server_config (known: cert_file, key_file, cert, key, "
                        + "client_auth_type, client_ca_file, client_ca, min_version, max_version, cipher_suites, "
                        + "curve_preferences, prefer_server_cipher_suites, client_allowed_sans)",
                error("unknown2.yml", "tls_server_config:\n  key_file: server.key\n  certfile: server.crt\n"));
        assertEquals("line 3: \"prometheus\" appears twice in basic_auth_users",
                error("dup.yml", "basic_auth_users:\n  prometheus: " + hash + "\n  prometheus: " + hash + "\n"));
        assertEquals("line 2: basic_auth_users: the password of user \"prometheus\" is not a bcrypt hash ($2y$, $2a$ or "
                        + "$2b$, cost 4-12); make one with `htpasswd -nBC 10 prometheus`",
                error("plain.yml", "basic_auth_users:\n  prometheus: s3cret\n"));
        for (String cost : new String[]{"13", "31"}) { // 31 would hang start-up (the decoy hash) for days
            assertEquals("line 2: basic_auth_users: the bcrypt cost of user \"prometheus\" is " + cost + ", above the "
                            + "maximum 12 (each failed login would cost that much CPU); make a new hash with "
                            + "`htpasswd -nBC 10 prometheus`",
                    error("cost" + cost + ".yml", "basic_auth_users:\n  prometheus: $2y$" + cost + "$" + hash.substring(7) + "\n"));
        }
        assertEquals("line 3: HTTP header \"Server\" can not be configured; allowed: Content-Security-Policy, "
                        + "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection",
                error("hdr.yml", "http_server_config:\n  headers:\n    Server: x\n"));
        assertEquals("line 3: invalid value for X-Frame-Options: expected one of [deny, sameorigin], got \"allow\"",
                error("hdr2.yml", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n"));
        assertEquals("line 1: rate_limit is not supported by this exporter; remove it",
                error("rl.yml", "rate_limit:\n  burst: 1\n"));
        assertEquals("line 1: basic_auth_users must be a mapping (key: value lines)",
                error("list.yml", "basic_auth_users: [a, b]\n"));
    }

    @Test
    @org.junit.jupiter.api.Timeout(value = 20, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocked the start
    void onlyRegularFilesAreRead() throws IOException {
        Path fifo = dir.resolve("fifo.yml");
        Cmd.run("mkfifo", fifo.toString()).ok();
        WebConfigException e = assertThrows(WebConfigException.class, () -> WebConfig.load(fifo));
        assertEquals("invalid --web.config.file " + fifo + ": it is not a regular file (a FIFO, socket or device); "
                + "give a YAML file", e.getMessage());
        Path certFifo = dir.resolve("cert.fifo");
        Cmd.run("mkfifo", certFifo.toString()).ok();
        assertEquals("tls_server_config: cert_file " + certFifo + " is not a regular file (a FIFO, socket or device); "
                        + "give a PEM file",
                error("fifo-cert.yml", "tls_server_config:\n  cert_file: cert.fifo\n  key_file: server.key\n"));
        assertEquals("tls_server_config: key_file /dev/zero is not a regular file (a FIFO, socket or device); give a PEM file",
                error("zero-key.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: /dev/zero\n"));
    }

    @Test
    void tlsProblems() throws IOException {
        assertEquals("tls_server_config: missing one of key or key_file",
                error("t1.yml", "tls_server_config:\n  cert_file: server.crt\n"));
        assertEquals("tls_server_config: missing one of cert or cert_file",
                error("t2.yml", "tls_server_config:\n  key_file: server.key\n"));
        assertEquals("tls_server_config: cert_file " + dir.resolve("nope.crt") + " does not exist",
                error("t3.yml", "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n"));
        assertEquals("tls_server_config: the private key in key_file " + dir.resolve("client.key")
                        + " does not belong to the certificate in cert_file " + dir.resolve("server.crt"),
                error("t4.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n"));
        assertEquals("tls_server_config: cert_file " + dir.resolve("server.key")
                        + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                error("t5.yml", "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n"));
        assertEquals("tls_server_config: key_file " + dir.resolve("server.crt") + " holds no PEM private key "
                        + "(-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
                error("t6.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n"));
        String tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
        assertEquals("tls_server_config: invalid client_auth_type \"RequireAndVerify\"; use NoClientCert, RequestClientCert, "
                        + "RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                error("t7.yml", tls + "  client_auth_type: RequireAndVerify\n"));
        assertEquals("tls_server_config: a client CA is configured but client_auth_type is NoClientCert; set "
                        + "client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven)",
                error("t8.yml", tls + "  client_ca_file: ca.crt\n"));
        assertEquals("tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file (or client_ca): "
                        + "the CA that signs the client certificates",
                error("t9.yml", tls + "  client_auth_type: RequireAndVerifyClientCert\n"));
        assertEquals("tls_server_config: unknown TLS version \"TLS1.2\"; use TLS12 or TLS13",
                error("t10.yml", tls + "  min_version: TLS1.2\n"));
        assertEquals("tls_server_config: min_version TLS13 is above max_version TLS12",
                error("t11.yml", tls + "  min_version: TLS13\n  max_version: TLS12\n"));
        for (String v : new String[]{"TLS10", "TLS11"}) { // accepted before, then every handshake failed
            assertEquals("tls_server_config: min_version " + v + " is not supported: TLS 1.0 and 1.1 are disabled in this "
                    + "Java runtime; use TLS12 or TLS13", error("min" + v + ".yml", tls + "  min_version: " + v + "\n"));
            assertEquals("tls_server_config: max_version " + v + " is not supported: TLS 1.0 and 1.1 are disabled in this "
                    + "Java runtime; use TLS12 or TLS13", error("max" + v + ".yml", tls + "  min_version: TLS12\n  max_version: " + v + "\n"));
        }
        assertEquals("tls_server_config: unknown or unsupported cipher suite \"TLS_FOO\"",
                error("t12.yml", tls + "  cipher_suites: [TLS_FOO]\n"));
        assertEquals("tls_server_config: unknown curve \"P256\"; use CurveP256, CurveP384, CurveP521 or X25519",
                error("t13.yml", tls + "  curve_preferences: [P256]\n"));
        assertEquals("tls_server_config: client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert "
                        + "or RequireAndVerifyClientCert",
                error("t14.yml", tls + "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
                        + "  client_allowed_sans: [x]\n"));
        String openssl = Cmd.require("openssl", "openssl");
        Cmd.run(openssl, "genpkey", "-algorithm", "RSA", "-aes256", "-pass", "pass:x", "-out", dir.resolve("enc.key").toString()).ok();
        assertEquals("tls_server_config: key_file " + dir.resolve("enc.key") + " holds an encrypted private key; decrypt it, "
                        + "e.g. `openssl pkey -in KEY -out KEY.plain`",
                error("t15.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: enc.key\n"));
    }
}
