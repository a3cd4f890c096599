import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import type { TlsOptions } from "../net/http.ts";

/**
 * Checks the controller connection's TLS settings when the client is built, so a wrong file is
 * reported with its fix before any request, instead of as an OpenSSL error at the first call.
 * Messages never quote key material.
 */
export function checkControllerTls(baseUrl: URL, tls: TlsOptions | undefined): void {
  if (!tls) return;
  if (tls.ca !== undefined && !tls.ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(
      "The CA certificate (caCertificate) is not a PEM certificate: give the controller's CA certificate as PEM text starting with -----BEGIN CERTIFICATE-----",
    );
  }
  if (tls.cert === undefined && tls.key === undefined) return;
  if (tls.cert === undefined || tls.key === undefined) {
    throw new Error(
      "Certificate authentication needs both the client certificate and its private key (PEM): one of them is missing",
    );
  }
  // reference §7.3: certificate authentication requires HTTPS on the controller.
  if (baseUrl.protocol !== "https:") {
    throw new Error(
      `Client certificates need an https:// controller URL, and ${baseUrl.origin} is plain http. Use the controller's https:// address.`,
    );
  }
  const certificate = parseCertificate(tls.cert);
  const key = parsePrivateKey(tls.key);
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(
      "The client certificate and private key do not belong together. Give the key the certificate was issued for (compare `openssl x509 -noout -pubkey -in cert.pem` with `openssl pkey -pubout -in key.pem`).",
    );
  }
}

/** PEM markers of a passphrase-protected key: PKCS#8 and the traditional OpenSSL form. */
export function isEncryptedPrivateKey(pem: string): boolean {
  return pem.includes("ENCRYPTED PRIVATE KEY") || /Proc-Type:\s*4,\s*ENCRYPTED/.test(pem);
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(
      "The client certificate is not a PEM certificate: give it as PEM text starting with -----BEGIN CERTIFICATE-----",
    );
  }
}

function parsePrivateKey(pem: string): KeyObject {
  // reference §7.3: the controller's documentation requires unencrypted client keys.
  if (isEncryptedPrivateKey(pem)) {
    throw new Error(
      "The client certificate's private key is encrypted (passphrase-protected). Export it unencrypted, e.g. `openssl pkey -in key.pem -out key-unencrypted.pem`, and store that as the secret.",
    );
  }
  try {
    return createPrivateKey(pem);
  } catch {
    throw new Error(
      "The client certificate's private key is not a PEM private key: give it as PEM text starting with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)",
    );
  }
}
