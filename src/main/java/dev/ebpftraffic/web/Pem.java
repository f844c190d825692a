package dev.ebpftraffic.web;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM certificates and private keys, as the exporter-toolkit's cert_file/key_file hold them.
 *
 * <p>Keys: PKCS#8 ("BEGIN PRIVATE KEY", what {@code openssl req -newkey} and {@code openssl genpkey}
 * write) with RSA, EC, Ed25519 or Ed448 keys; PKCS#1 ("BEGIN RSA PRIVATE KEY") and SEC1
 * ("BEGIN EC PRIVATE KEY", what {@code openssl ecparam -genkey} writes) are converted to PKCS#8 here.
 * Encrypted keys are refused: the exporter has nowhere to get a passphrase from.
 */
final class Pem {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\r?\\n(.*?)-----END \\1-----", Pattern.DOTALL);

    /** OID 1.2.840.113549.1.1.1 rsaEncryption, DER-encoded with its tag. */
    private static final byte[] OID_RSA = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};
    /** OID 1.2.840.10045.2.1 id-ecPublicKey, DER-encoded with its tag. */
    private static final byte[] OID_EC = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

    private Pem() {
    }

    record Block(String type, byte[] der) {
    }

    static List<Block> blocks(String text) {
        List<Block> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            String body = m.group(2);
            if (body.contains(":")) { // RFC 1421 headers, e.g. "Proc-Type: 4,ENCRYPTED"
                out.add(new Block(m.group(1) + " WITH HEADERS", new byte[0]));
                continue;
            }
            try {
                out.add(new Block(m.group(1), Base64.getMimeDecoder().decode(body)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("the " + m.group(1) + " block is not valid base64");
            }
        }
        return out;
    }

    /** The certificates in a PEM text, in order (the server certificate first, then its chain). */
    static List<X509Certificate> certificates(String text, String what) {
        List<X509Certificate> out = new ArrayList<>();
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (Block b : blocks(text)) {
                if (b.type().equals("CERTIFICATE")) {
                    out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der())));
                }
            }
        } catch (CertificateException e) {
            throw new IllegalArgumentException(what + " holds a certificate that cannot be parsed: " + e.getMessage());
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(what + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        return out;
    }

    /** The first private key in a PEM text. */
    static PrivateKey privateKey(String text, String what) {
        for (Block b : blocks(text)) {
            switch (b.type()) {
                case "PRIVATE KEY" -> {
                    return pkcs8(b.der(), what);
                }
                case "RSA PRIVATE KEY" -> {
                    return pkcs8(wrapPkcs8(sequence(OID_RSA, new byte[]{0x05, 0x00}), b.der()), what);
                }
                case "EC PRIVATE KEY" -> {
                    return pkcs8(wrapPkcs8(sequence(OID_EC, ecCurveOid(b.der(), what)), b.der()), what);
                }
                case "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY WITH HEADERS", "EC PRIVATE KEY WITH HEADERS" ->
                        throw new IllegalArgumentException(what + " holds an encrypted private key; decrypt it, e.g. "
                                + "`openssl pkey -in KEY -out KEY.plain`");
                default -> {
                    // EC PARAMETERS, CERTIFICATE, ...: look further
                }
            }
        }
        throw new IllegalArgumentException(what + " holds no PEM private key (-----BEGIN PRIVATE KEY-----, "
                + "RSA PRIVATE KEY or EC PRIVATE KEY)");
    }

    private static PrivateKey pkcs8(byte[] der, String what) {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String alg : new String[]{"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException | RuntimeException e) {
                // try the next algorithm
            }
        }
        throw new IllegalArgumentException(what + " holds a private key that is not an RSA, EC or Ed25519 PKCS#8 key");
    }

    /** True when the key belongs to the certificate: a test signature verifies with its public key. */
    static boolean matches(PrivateKey key, PublicKey pub) {
        String alg = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            case "RSASSA-PSS" -> null;
            default -> null;
        };
        if (alg == null) {
            return true; // cannot check: let the TLS handshake tell
        }
        try {
            byte[] msg = "ebpf-traffic-exporter key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(msg);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(pub);
            v.update(msg);
            return v.verify(sig);
        } catch (GeneralSecurityException e) {
            return false; // e.g. an EC key with an RSA certificate
        }
    }

    // --- a little DER, enough to wrap PKCS#1 and SEC1 keys in PKCS#8 ---

    /** PrivateKeyInfo ::= SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING key }. */
    private static byte[] wrapPkcs8(byte[] algorithmIdentifier, byte[] key) {
        return sequence(new byte[]{0x02, 0x01, 0x00}, algorithmIdentifier, tlv(0x04, key));
    }

    private static byte[] sequence(byte[]... parts) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            body.writeBytes(p);
        }
        return tlv(0x30, body.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = value.length;
        if (n < 0x80) {
            out.write(n);
        } else if (n < 0x100) {
            out.write(0x81);
            out.write(n);
        } else if (n < 0x10000) {
            out.write(0x82);
            out.write(n >> 8);
            out.write(n);
        } else {
            out.write(0x83);
            out.write(n >> 16);
            out.write(n >> 8);
            out.write(n);
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    /**
     * The named-curve OID (tag and length included) of a SEC1 ECPrivateKey ::= SEQUENCE { INTEGER 1,
     * OCTET STRING key, [0] ECParameters OPTIONAL, [1] BIT STRING OPTIONAL }.
     */
    private static byte[] ecCurveOid(byte[] der, String what) {
        try {
            int[] pos = {0};
            expectTag(der, pos, 0x30);
            int end = readLength(der, pos) + pos[0];
            while (pos[0] < end) {
                int tag = der[pos[0]++] & 0xff;
                int len = readLength(der, pos);
                if (tag == 0xa0) {
                    int start = pos[0];
                    if ((der[start] & 0xff) != 0x06) {
                        break; // explicit curve parameters: not supported
                    }
                    int[] p = {start + 1};
                    int oidLen = readLength(der, p);
                    return java.util.Arrays.copyOfRange(der, start, p[0] + oidLen);
                }
                pos[0] += len;
            }
        } catch (ArrayIndexOutOfBoundsException e) {
            // fall through
        }
        throw new IllegalArgumentException(what + " holds an EC PRIVATE KEY without a named curve; convert it to PKCS#8 "
                + "with `openssl pkcs8 -topk8 -nocrypt`");
    }

    private static void expectTag(byte[] der, int[] pos, int tag) {
        if ((der[pos[0]++] & 0xff) != tag) {
            throw new ArrayIndexOutOfBoundsException("unexpected DER tag");
        }
    }

    private static int readLength(byte[] der, int[] pos) {
        int b = der[pos[0]++] & 0xff;
        if (b < 0x80) {
            return b;
        }
        int n = b & 0x7f;
        if (n > 3) {
            throw new ArrayIndexOutOfBoundsException("DER length too long");
        }
        int len = 0;
        for (int i = 0; i < n; i++) {
            len = (len << 8) | (der[pos[0]++] & 0xff);
        }
        return len;
    }
}
