package dev.ebpftraffic.web;

import dev.ebpftraffic.config.InputFiles;
import dev.ebpftraffic.flow.IpAddress;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** tls_server_config, turned into an SSLContext and the SSLParameters every connection gets. */
public final class TlsConfig {
    /** The toolkit's client_auth_type values, as Go's tls.ClientAuthType. */
    public enum ClientAuth {
        NO_CLIENT_CERT("NoClientCert", false, false, false),
        REQUEST_CLIENT_CERT("RequestClientCert", true, false, false),
        REQUIRE_ANY_CLIENT_CERT("RequireAnyClientCert", false, true, false),
        VERIFY_CLIENT_CERT_IF_GIVEN("VerifyClientCertIfGiven", true, false, true),
        REQUIRE_AND_VERIFY_CLIENT_CERT("RequireAndVerifyClientCert", false, true, true);

        final String yamlName;
        final boolean want;
        final boolean need;
        final boolean verify;

        ClientAuth(String yamlName, boolean want, boolean need, boolean verify) {
            this.yamlName = yamlName;
            this.want = want;
            this.need = need;
            this.verify = verify;
        }

        static ClientAuth parse(String s) {
            if (s.isEmpty()) {
                return NO_CLIENT_CERT;
            }
            if (s.equals("RequireClientCert")) { // the toolkit keeps this old name
                return REQUIRE_ANY_CLIENT_CERT;
            }
            for (ClientAuth a : values()) {
                if (a.yamlName.equals(s)) {
                    return a;
                }
            }
            throw new WebConfig.Problem(null, "tls_server_config: invalid client_auth_type \"" + s
                    + "\"; use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert");
        }
    }

    static final Map<String, String> VERSIONS = Map.of(
            "TLS10", "TLSv1", "TLS11", "TLSv1.1", "TLS12", "TLSv1.2", "TLS13", "TLSv1.3");
    private static final List<String> VERSION_ORDER = List.of("TLS10", "TLS11", "TLS12", "TLS13");
    static final Map<String, String> CURVES = Map.of(
            "CurveP256", "secp256r1", "CurveP384", "secp384r1", "CurveP521", "secp521r1", "X25519", "x25519");
    /** Go ignores cipher_suites for TLS 1.3 and always allows these; so do we. */
    private static final List<String> TLS13_SUITES = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");

    private final SSLContext context;
    private final SSLParameters parameters;
    private final ClientAuth clientAuth;

    private TlsConfig(SSLContext context, SSLParameters parameters, ClientAuth clientAuth) {
        this.context = context;
        this.parameters = parameters;
        this.clientAuth = clientAuth;
    }

    public SSLContext context() {
        return context;
    }

    /** A fresh copy, for one connection. */
    public SSLParameters parameters() {
        SSLParameters p = new SSLParameters(parameters.getCipherSuites(), parameters.getProtocols());
        p.setNamedGroups(parameters.getNamedGroups());
        p.setUseCipherSuitesOrder(parameters.getUseCipherSuitesOrder());
        if (parameters.getNeedClientAuth()) {
            p.setNeedClientAuth(true);
        } else if (parameters.getWantClientAuth()) {
            p.setWantClientAuth(true);
        }
        return p;
    }

    public ClientAuth clientAuth() {
        return clientAuth;
    }

    /** The fields of tls_server_config as read; build() checks them and loads the files. */
    static final class Builder {
        String cert = "";
        String key = "";
        String clientCa = "";
        Path certFile;
        Path keyFile;
        Path clientCaFile;
        String clientAuth = "";
        String minVersion = "";
        String maxVersion = "";
        List<String> cipherSuites = List.of();
        List<String> curves = List.of();
        boolean preferServerCipherSuites = true;
        List<String> allowedSans = List.of();

        private boolean enabled() {
            return !cert.isEmpty() || !key.isEmpty() || !clientCa.isEmpty() || certFile != null || keyFile != null
                    || clientCaFile != null || !clientAuth.isEmpty();
        }

        /** null when the section configures no TLS (as in the toolkit: plain HTTP then). */
        TlsConfig build() {
            if (!enabled()) {
                if (!minVersion.isEmpty() || !maxVersion.isEmpty() || !cipherSuites.isEmpty() || !curves.isEmpty()
                        || !allowedSans.isEmpty()) {
                    throw new WebConfig.Problem(null, "tls_server_config has TLS settings but no cert_file/key_file");
                }
                return null;
            }
            if (certFile == null && cert.isEmpty()) {
                throw new WebConfig.Problem(null, "tls_server_config: missing one of cert or cert_file");
            }
            if (keyFile == null && key.isEmpty()) {
                throw new WebConfig.Problem(null, "tls_server_config: missing one of key or key_file");
            }
            String certWhat = certFile != null ? "cert_file " + certFile : "cert";
            String keyWhat = keyFile != null ? "key_file " + keyFile : "key";
            String certText = certFile != null ? read(certFile, "cert_file") : cert;
            String keyText = keyFile != null ? read(keyFile, "key_file") : key;
            try {
                List<X509Certificate> chain = Pem.certificates(certText, certWhat);
                PrivateKey pk = Pem.privateKey(keyText, keyWhat);
                if (!Pem.matches(pk, chain.getFirst().getPublicKey())) {
                    throw new IllegalArgumentException("the private key in " + keyWhat
                            + " does not belong to the certificate in " + certWhat);
                }
                ClientAuth auth = ClientAuth.parse(clientAuth);
                List<X509Certificate> cas = null;
                if (clientCaFile != null) {
                    cas = Pem.certificates(read(clientCaFile, "client_ca_file"), "client_ca_file " + clientCaFile);
                } else if (!clientCa.isEmpty()) {
                    cas = Pem.certificates(clientCa, "client_ca");
                }
                if (cas != null && auth == ClientAuth.NO_CLIENT_CERT) {
                    throw new IllegalArgumentException("a client CA is configured but client_auth_type is NoClientCert; "
                            + "set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven)");
                }
                if (cas == null && auth.verify) {
                    throw new IllegalArgumentException("client_auth_type " + auth.yamlName
                            + " needs client_ca_file (or client_ca): the CA that signs the client certificates");
                }
                if (!allowedSans.isEmpty() && !auth.need) {
                    throw new IllegalArgumentException("client_allowed_sans requires client_auth_type to be one of "
                            + "RequireAnyClientCert or RequireAndVerifyClientCert");
                }
                return create(chain, pk, auth, cas);
            } catch (IllegalArgumentException e) {
                throw new WebConfig.Problem(null, "tls_server_config: " + e.getMessage());
            } catch (GeneralSecurityException | IOException e) {
                throw new WebConfig.Problem(null, "tls_server_config: cannot set up TLS: " + e);
            }
        }

        private TlsConfig create(List<X509Certificate> chain, PrivateKey pk, ClientAuth auth, List<X509Certificate> cas)
                throws GeneralSecurityException, IOException {
            char[] pw = "unused".toCharArray();
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("server", pk, pw, chain.toArray(new X509Certificate[0]));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);

            TrustManager[] tms = null;
            if (auth != ClientAuth.NO_CLIENT_CERT) {
                X509ExtendedTrustManager tm;
                if (auth.verify) {
                    KeyStore trust = KeyStore.getInstance("PKCS12");
                    trust.load(null, null);
                    for (int i = 0; i < cas.size(); i++) {
                        trust.setCertificateEntry("ca" + i, cas.get(i));
                    }
                    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
                    tmf.init(trust);
                    tm = (X509ExtendedTrustManager) Arrays.stream(tmf.getTrustManagers())
                            .filter(t -> t instanceof X509ExtendedTrustManager).findFirst().orElseThrow();
                } else {
                    tm = new AnyClientCert(); // RequestClientCert, RequireAnyClientCert: any certificate, unverified
                }
                if (!allowedSans.isEmpty()) {
                    tm = new SanCheck(tm, Set.copyOf(allowedSans));
                }
                tms = new TrustManager[]{tm};
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), tms, null);

            SSLParameters supported = ctx.getSupportedSSLParameters();
            SSLParameters p = new SSLParameters();
            p.setProtocols(protocols(supported.getProtocols()));
            if (!cipherSuites.isEmpty()) {
                Set<String> known = Set.of(supported.getCipherSuites());
                Set<String> suites = new LinkedHashSet<>();
                for (String s : cipherSuites) {
                    if (!known.contains(s)) {
                        throw new IllegalArgumentException("unknown or unsupported cipher suite \"" + s + "\"");
                    }
                    suites.add(s);
                }
                suites.addAll(TLS13_SUITES);
                p.setCipherSuites(suites.toArray(new String[0]));
            } else {
                p.setCipherSuites(ctx.getDefaultSSLParameters().getCipherSuites());
            }
            if (!curves.isEmpty()) {
                List<String> groups = new ArrayList<>();
                for (String c : curves) {
                    String g = CURVES.get(c);
                    if (g == null) {
                        throw new IllegalArgumentException("unknown curve \"" + c + "\"; use CurveP256, CurveP384, CurveP521 or X25519");
                    }
                    groups.add(g);
                }
                p.setNamedGroups(groups.toArray(new String[0]));
            }
            p.setUseCipherSuitesOrder(preferServerCipherSuites);
            if (auth.need) {
                p.setNeedClientAuth(true);
            } else if (auth.want) {
                p.setWantClientAuth(true);
            }
            return new TlsConfig(ctx, p, auth);
        }

        private String[] protocols(String[] supportedProtocols) {
            String min = minVersion.isEmpty() ? "TLS12" : minVersion;
            String max = maxVersion.isEmpty() ? "TLS13" : maxVersion;
            for (String v : new String[]{min, max}) {
                if (!VERSIONS.containsKey(v)) {
                    throw new IllegalArgumentException("unknown TLS version \"" + v + "\"; use TLS12 or TLS13");
                }
            }
            // The JDK disables TLS 1.0 and 1.1 (jdk.tls.disabledAlgorithms): the setting would be
            // accepted and then every handshake would fail, or silently mean TLS12.
            for (String[] f : new String[][]{{"min_version", minVersion}, {"max_version", maxVersion}}) {
                if (f[1].equals("TLS10") || f[1].equals("TLS11")) {
                    throw new IllegalArgumentException(f[0] + " " + f[1] + " is not supported: TLS 1.0 and 1.1 are "
                            + "disabled in this Java runtime; use TLS12 or TLS13");
                }
            }
            int lo = VERSION_ORDER.indexOf(min);
            int hi = VERSION_ORDER.indexOf(max);
            if (lo > hi) {
                throw new IllegalArgumentException("min_version " + min + " is above max_version " + max);
            }
            Set<String> sup = Set.of(supportedProtocols);
            List<String> out = new ArrayList<>();
            for (int i = hi; i >= lo; i--) {
                String jdk = VERSIONS.get(VERSION_ORDER.get(i));
                if (sup.contains(jdk)) {
                    out.add(jdk);
                }
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("this JVM supports none of the TLS versions " + min + " to " + max);
            }
            return out.toArray(new String[0]);
        }

        private static String read(Path p, String field) {
            try {
                return new String(InputFiles.read(p), StandardCharsets.UTF_8);
            } catch (NoSuchFileException e) {
                throw new WebConfig.Problem(null, "tls_server_config: " + field + " " + p + " does not exist");
            } catch (InputFiles.Refused e) {
                throw new WebConfig.Problem(null, "tls_server_config: " + field + " " + p + " " + e.getMessage()
                        + "; give a PEM file");
            } catch (IOException e) {
                throw new WebConfig.Problem(null, "tls_server_config: cannot read " + field + " " + p + ": " + e.getMessage());
            }
        }
    }

    /** Accepts any client certificate without verifying it (RequestClientCert, RequireAnyClientCert). */
    static final class AnyClientCert extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("not a client");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("not a client");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            throw new CertificateException("not a client");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    /** client_allowed_sans: after the usual checks, one SAN of the client certificate must be listed. */
    static final class SanCheck extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager delegate;
        private final Set<String> allowed;

        SanCheck(X509ExtendedTrustManager delegate, Set<String> allowed) {
            this.delegate = delegate;
            this.allowed = allowed;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            delegate.checkClientTrusted(chain, authType);
            checkSans(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            delegate.checkClientTrusted(chain, authType, socket);
            checkSans(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            delegate.checkClientTrusted(chain, authType, engine);
            checkSans(chain);
        }

        private void checkSans(X509Certificate[] chain) throws CertificateException {
            if (chain == null || chain.length == 0) {
                throw new CertificateException("no client certificate to match against client_allowed_sans");
            }
            for (String san : sans(chain[0])) {
                if (allowed.contains(san)) {
                    return;
                }
            }
            throw new CertificateException("no allowed SAN in the client certificate");
        }

        static List<String> sans(X509Certificate c) throws CertificateParsingException {
            List<String> out = new ArrayList<>();
            Collection<List<?>> all = c.getSubjectAlternativeNames();
            if (all == null) {
                return out;
            }
            for (List<?> san : all) {
                int type = (Integer) san.get(0);
                if (type == 1 || type == 2 || type == 6) { // rfc822Name, dNSName, URI
                    out.add((String) san.get(1));
                } else if (type == 7) {                    // iPAddress, written as Go writes it
                    try {
                        out.add(IpAddress.parse((String) san.get(1)).toString());
                    } catch (RuntimeException e) {
                        out.add((String) san.get(1));
                    }
                }
            }
            return out;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            delegate.checkServerTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            delegate.checkServerTrusted(chain, authType, socket);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            delegate.checkServerTrusted(chain, authType, engine);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return delegate.getAcceptedIssuers();
        }
    }
}
