package dev.ebpftraffic.deploy;

import dev.ebpftraffic.testing.Cmd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A throw-away PKI made with the openssl CLI, as an operator would: a CA, a server certificate for
 * 127.0.0.1/localhost signed by it, a client certificate signed by it, and a self-signed client
 * certificate the CA never saw. Keys are what `openssl req -newkey` writes (PKCS#8).
 */
public record TestPki(Path dir, Path caCert, Path serverCert, Path serverKey, Path clientCert, Path clientKey,
                      Path rogueCert, Path rogueKey) {

    public static TestPki create(Path dir, String serverIp) {
        String openssl = Cmd.require("openssl", "openssl");
        Path ca = dir.resolve("ca.crt");
        Path caKey = dir.resolve("ca.key");
        run(dir, openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey.toString(), "-out", ca.toString(),
                "-days", "2", "-subj", "/CN=ebpf-traffic-exporter test CA");
        Path server = issue(dir, openssl, "server", "/CN=localhost",
                "subjectAltName=DNS:localhost,IP:127.0.0.1" + (serverIp == null ? "" : ",IP:" + serverIp)
                        + "\nextendedKeyUsage=serverAuth\n");
        Path client = issue(dir, openssl, "client", "/CN=prometheus",
                "subjectAltName=DNS:prometheus.client.test\nextendedKeyUsage=clientAuth\n");
        Path rogue = dir.resolve("rogue.crt");
        run(dir, openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.resolve("rogue.key").toString(),
                "-out", rogue.toString(), "-days", "2", "-subj", "/CN=rogue",
                "-addext", "subjectAltName=DNS:prometheus.client.test", "-addext", "extendedKeyUsage=clientAuth");
        return new TestPki(dir, ca, server, dir.resolve("server.key"), client, dir.resolve("client.key"),
                rogue, dir.resolve("rogue.key"));
    }

    private static Path issue(Path dir, String openssl, String name, String subject, String ext) {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path crt = dir.resolve(name + ".crt");
        Path extFile = dir.resolve(name + ".ext");
        try {
            Files.writeString(extFile, ext);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        run(dir, openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(), "-out", csr.toString(),
                "-subj", subject);
        run(dir, openssl, "x509", "-req", "-in", csr.toString(), "-CA", dir.resolve("ca.crt").toString(),
                "-CAkey", dir.resolve("ca.key").toString(), "-CAcreateserial", "-out", crt.toString(), "-days", "2",
                "-extfile", extFile.toString());
        return crt;
    }

    private static void run(Path dir, String... cmd) {
        Cmd.run(dir, Cmd.DEFAULT_TIMEOUT, List.of(cmd)).ok();
    }
}
