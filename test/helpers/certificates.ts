import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { clientKeyPem } from "./secrets.ts";

const run = promisify(execFile);

/** PEM texts for TLS and client-certificate tests, made fresh by the `openssl` CLI. */
export interface TestCertificates {
  /** The CA that signs the server and client certificates (the controller's ANKA_CA_CERT). */
  caPem: string;
  /** Server certificate for 127.0.0.1 and localhost (subjectAltName), signed by the CA. */
  serverCertPem: string;
  serverKeyPem: string;
  /** Client certificate with `O=` (the permission group) and `CN=` (reference §7.3), signed by the CA. */
  clientCertPem: string;
  clientKeyPem: string;
  /** The client key as encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`), passphrase {@link ENCRYPTED_KEY_PASSPHRASE}. */
  clientKeyEncryptedPem: string;
  /** A CA that signed nothing the server trusts. */
  otherCaPem: string;
  /** A client certificate with the same subject as the good one, signed by the other CA. */
  foreignClientCertPem: string;
  foreignClientKeyPem: string;
  /** Self-signed server certificate for 127.0.0.1 and localhost: right names, no trusted issuer. */
  selfSignedCertPem: string;
  selfSignedKeyPem: string;
  /** Server certificate signed by the CA for wrong.example.com only. */
  wrongHostCertPem: string;
  wrongHostKeyPem: string;
}

export const CLIENT_CERTIFICATE_GROUP = "ios-builders";
export const CLIENT_CERTIFICATE_NAME = "azure-pipelines";
export const WRONG_HOST_NAME = "wrong.example.com";
export const ENCRYPTED_KEY_PASSPHRASE = "test-passphrase";

const DAYS = "2";
const SERVER_NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1";
/** P-256 keys: RSA key generation would make this helper take seconds. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/**
 * Writes every key and certificate under `dir` (created if needed) and returns their PEM texts. The
 * client certificate is made for the fixed client key of test/helpers/secrets.ts, which the secret
 * scan knows; every other key is made fresh.
 */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "client.key"), clientKeyPem(), { mode: 0o600 });
  const file = (name: string) => path.join(dir, name);
  const read = (name: string) => readFile(file(name), "utf8");

  await Promise.all([makeCa(dir, "ca", "Test Anka CA"), makeCa(dir, "other-ca", "Some Other CA")]);
  await Promise.all([
    signed(dir, "server", "ca", "/CN=localhost", [SERVER_NAMES, "extendedKeyUsage=serverAuth"]),
    signed(
      dir,
      "client",
      "ca",
      `/O=${CLIENT_CERTIFICATE_GROUP}/CN=${CLIENT_CERTIFICATE_NAME}`,
      ["extendedKeyUsage=clientAuth"],
      { existingKey: true },
    ),
    signed(
      dir,
      "foreign-client",
      "other-ca",
      `/O=${CLIENT_CERTIFICATE_GROUP}/CN=${CLIENT_CERTIFICATE_NAME}`,
      ["extendedKeyUsage=clientAuth"],
    ),
    signed(dir, "wrong-host", "ca", `/CN=${WRONG_HOST_NAME}`, [
      `subjectAltName=DNS:${WRONG_HOST_NAME}`,
      "extendedKeyUsage=serverAuth",
    ]),
    openssl(
      ...["req", "-x509", ...NEW_KEY, "-nodes", "-days", DAYS, "-subj", "/CN=localhost"],
      ...["-keyout", file("self-signed.key"), "-out", file("self-signed.pem"), "-addext", SERVER_NAMES],
    ),
  ]);
  await openssl(
    ...["pkey", "-in", file("client.key"), "-aes256", "-passout", `pass:${ENCRYPTED_KEY_PASSPHRASE}`],
    ...["-out", file("client-encrypted.key")],
  );

  return {
    caPem: await read("ca.pem"),
    serverCertPem: await read("server.pem"),
    serverKeyPem: await read("server.key"),
    clientCertPem: await read("client.pem"),
    clientKeyPem: await read("client.key"),
    clientKeyEncryptedPem: await read("client-encrypted.key"),
    otherCaPem: await read("other-ca.pem"),
    foreignClientCertPem: await read("foreign-client.pem"),
    foreignClientKeyPem: await read("foreign-client.key"),
    selfSignedCertPem: await read("self-signed.pem"),
    selfSignedKeyPem: await read("self-signed.key"),
    wrongHostCertPem: await read("wrong-host.pem"),
    wrongHostKeyPem: await read("wrong-host.key"),
  };
}

async function makeCa(dir: string, name: string, commonName: string): Promise<void> {
  await openssl(
    ...["req", "-x509", ...NEW_KEY, "-nodes", "-days", DAYS, "-subj", `/CN=${commonName}`],
    ...["-keyout", path.join(dir, `${name}.key`), "-out", path.join(dir, `${name}.pem`)],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  );
}

async function signed(
  dir: string,
  name: string,
  ca: string,
  subject: string,
  extensions: string[],
  options: { existingKey?: boolean } = {},
): Promise<void> {
  const file = (suffix: string) => path.join(dir, `${name}.${suffix}`);
  await writeFile(file("ext"), [...extensions, "basicConstraints=CA:FALSE", ""].join("\n"));
  await openssl(
    ...["req", "-new", "-subj", subject, "-out", file("csr")],
    ...(options.existingKey ? ["-key", file("key")] : [...NEW_KEY, "-nodes", "-keyout", file("key")]),
  );
  await openssl(
    ...["x509", "-req", "-in", file("csr"), "-days", DAYS, "-extfile", file("ext")],
    ...["-CA", path.join(dir, `${ca}.pem`), "-CAkey", path.join(dir, `${ca}.key`), "-set_serial", serial()],
    ...["-out", file("pem")],
  );
}

/** Distinct serials: two certificates from one CA with the same serial confuse some verifiers. */
function serial(): string {
  return `0x${Math.floor(Math.random() * 2 ** 48).toString(16)}`;
}

async function openssl(...args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(
      `openssl ${args[0]} failed (is openssl installed?): ${stderr || (error as Error).message}`,
    );
  }
}
