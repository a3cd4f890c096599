import { Buffer } from "node:buffer";
import { checkPrimeSync, createECDH, createHash, createPrivateKey, createPublicKey } from "node:crypto";

/**
 * Every secret the tests hand to the code under test, in one place, with fixed values: the test
 * processes use them and `scripts/scan-secrets.ts`, a separate process reading the whole test
 * output, recomputes them to make sure none of them, in any form that could leak, is ever printed.
 * A test that needs a new secret adds it here, or the scan cannot see it.
 *
 * Values the emulators make up at run time (keys the controller generates, UAK session tokens) are
 * not known in advance; the tests that see them check those themselves.
 */

/** PAT with Manage rights on the pool; full of shell metacharacters on purpose. */
export const PAT = "azdo-pat-Zq8$`'\"x7";
/** PAT that may only read. */
export const READ_ONLY_PAT = "azdo-readonly-pat-41k";
/** A long plain PAT, for the startup script tests that look for it in files, argument lists and environments. */
export const LONG_PAT = "patSECRET0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
/** The Azure DevOps emulator's own tests: one PAT per permission. */
export const EMULATOR_PATS = {
  manageAll: "pat-manage-all-0123456789",
  readOnly: "pat-read-only-0123456789",
  ankaOnly: "pat-anka-only-0123456789",
} as const;
/** The controller's ANKA_ROOT_TOKEN (at least 10 characters). */
export const ROOT_TOKEN = "root-token-5d1c7e0a93b24f68";
/** A root token the controller rejects: a user's typo must not be printed either. */
export const WRONG_ROOT_TOKEN = "wrong-root-token-123";
/** The pool service's service-hooks password (basic authentication on POST /hooks). */
export const HOOKS_PASSWORD = "pool-hooks-secret-7f3a91c2e4";
export const UAK_ID = "azure-pipelines-uak";

/**
 * The UAK private key (RSA-2048, PKCS#1 PEM as the controller hands them out). Made from a fixed
 * seed rather than stored, so that no key material sits in the repository.
 */
export function uakPrivateKeyPem(): string {
  uakKey ??= deterministicRsaKey("anka-azure-pipelines test UAK", 2048);
  return uakKey;
}
let uakKey: string | undefined;

/** The UAK's public half as POST /api/v1/apikey takes it: base64 of the PKIX DER. */
export function uakPublicKeyBase64(): string {
  return createPublicKey(uakPrivateKeyPem()).export({ type: "spki", format: "der" }).toString("base64");
}

/** A pre-registered agent's private key (RSA-2048, PKCS#1 PEM), for tests that pass it in. */
export function agentPrivateKeyPem(): string {
  agentKey ??= deterministicRsaKey("anka-azure-pipelines test agent key", 2048);
  return agentKey;
}
let agentKey: string | undefined;

/**
 * The agent key's private values as `.credentials_rsaparams` holds them (agent-registration.md §3):
 * standard base64, d padded to the modulus length, the CRT values to half of it. Also as the
 * minimal base64url of a JWK, which a careless conversion would print.
 */
function agentKeyForms(): Array<[string, string]> {
  const jwk = createPrivateKey(agentPrivateKeyPem()).export({ format: "jwk" });
  const size = Buffer.from(jwk.n ?? "", "base64url").length;
  const forms: Array<[string, string]> = [];
  for (const [name, member, length] of [
    ["d", jwk.d, size],
    ["p", jwk.p, size / 2],
    ["q", jwk.q, size / 2],
    ["dp", jwk.dp, size / 2],
    ["dq", jwk.dq, size / 2],
    ["inverseQ", jwk.qi, size / 2],
  ] as const) {
    const bytes = Buffer.from(member ?? "", "base64url");
    const padded = Buffer.concat([Buffer.alloc(Math.max(0, length - bytes.length)), bytes]);
    forms.push([`agent key ${name} as .credentials_rsaparams holds it`, padded.toString("base64")]);
    forms.push([`agent key ${name} as JWK base64url`, member ?? ""]);
  }
  return forms;
}

/** The key of the client certificate (P-256, PKCS#8 PEM); `makeCertificates` signs a certificate for it. */
export function clientKeyPem(): string {
  clientKey ??= deterministicEcKey("anka-azure-pipelines test client key");
  return clientKey;
}
let clientKey: string | undefined;

/** The base64 body of a PEM text, on one line, as users paste keys. */
export function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
}

export interface SecretForm {
  /** Which secret and which form, e.g. "PAT as base64". Never the value itself. */
  label: string;
  value: string;
}

/**
 * Every secret above in every form that could show up in output: as is, JSON-escaped, URL-encoded,
 * shell-quoted, in base64 and in the Basic headers built from it, and, for the two PATs and the root
 * token, the part of a longer base64 text (a startup script, a request body) that carries it,
 * at each of the three byte alignments. Keys: the PEM text, its body on one line, each line; the
 * agent key also as the values of its `.credentials_rsaparams` file.
 */
export function secretForms(): SecretForm[] {
  const forms: SecretForm[] = [];
  const add = (label: string, value: string) => {
    if (value.length >= 8 && !forms.some((form) => form.value === value)) forms.push({ label, value });
  };
  const tokens: Array<[string, string, string[]]> = [
    ["PAT", PAT, ["", "VstsAgent"]],
    ["read-only PAT", READ_ONLY_PAT, ["", "VstsAgent"]],
    ["long PAT", LONG_PAT, ["", "VstsAgent"]],
    ...Object.entries(EMULATOR_PATS).map(([name, value]): [string, string, string[]] => [
      `emulator PAT ${name}`,
      value,
      ["", "VstsAgent"],
    ]),
    ["root token", ROOT_TOKEN, ["root", ""]],
    ["wrong root token", WRONG_ROOT_TOKEN, ["root", ""]],
    ["hooks password", HOOKS_PASSWORD, ["anka-pool"]],
  ];
  for (const [name, value, users] of tokens) {
    add(name, value);
    add(`${name}, JSON-escaped`, JSON.stringify(value).slice(1, -1));
    add(`${name}, URL-encoded`, encodeURIComponent(value));
    add(`${name}, shell-quoted`, `'${value.replaceAll("'", `'\\''`)}'`);
    add(`${name} as base64`, base64(value));
    for (const user of users) {
      add(`${name} as Basic credentials of user "${user}"`, base64(`${user}:${value}`));
    }
    base64Fragments(value).forEach((fragment, offset) =>
      add(`${name} inside a longer base64 text (offset ${offset})`, fragment),
    );
  }
  for (const [label, value] of agentKeyForms()) add(label, value);
  for (const [name, pem] of [
    ["UAK private key", uakPrivateKeyPem()],
    ["client key", clientKeyPem()],
    ["agent private key", agentPrivateKeyPem()],
  ] as const) {
    add(name, pem.trim());
    add(`${name}, body on one line`, pemBody(pem));
    add(`${name}, JSON-escaped`, JSON.stringify(pem.trim()).slice(1, -1));
    // A private key's text holds its public half too (the modulus, the point), which certificates
    // and API-key registrations show openly: only lines with private material count.
    const publicText = publicKeyTexts(pem);
    for (const line of pem.split("\n")) {
      if (line.length >= 16 && !line.startsWith("-----") && !publicText.some((text) => text.includes(line)))
        add(`a line of the ${name}`, line);
    }
  }
  return forms;
}

/** The public half of a key in the encodings that show it (PKIX, and PKCS#1 for RSA), base64. */
function publicKeyTexts(privatePem: string): string[] {
  const key = createPublicKey(privatePem);
  const texts = [key.export({ type: "spki", format: "der" }).toString("base64")];
  if (key.asymmetricKeyType === "rsa")
    texts.push(key.export({ type: "pkcs1", format: "der" }).toString("base64"));
  return texts;
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/**
 * Base64 of a text that contains `secret` somewhere: whatever precedes it, the characters that
 * encode only the secret's bytes are the same for a given offset modulo 3. Those, for each offset.
 */
export function base64Fragments(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  return [0, 1, 2].map((offset) => {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // The first character group that holds only the secret's bytes starts at the next multiple of 3.
    const start = offset === 0 ? 0 : 4;
    // The last group holding a byte after the secret is incomplete: drop it.
    const whole = Math.floor((offset + bytes.length) / 3) * 4;
    return encoded.slice(start, whole);
  });
}

/** A byte stream from a seed: SHA-256 of the seed and a counter. */
function seededBytes(seed: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * 32 < length; counter++) {
    blocks.push(createHash("sha256").update(`${seed}/${counter}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const E = 65537n;

function deterministicPrime(seed: string, bits: number): bigint {
  let candidate = BigInt(`0x${seededBytes(seed, bits / 8).toString("hex")}`);
  candidate |= (1n << BigInt(bits - 1)) | (1n << BigInt(bits - 2)) | 1n;
  while ((candidate - 1n) % E === 0n || !checkPrimeSync(candidate)) candidate += 2n;
  return candidate;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  return ((oldS % m) + m) % m;
}

function base64url(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, "hex").toString("base64url");
}

function deterministicRsaKey(seed: string, bits: number): string {
  const p = deterministicPrime(`${seed}/p`, bits / 2);
  const q = deterministicPrime(`${seed}/q`, bits / 2);
  const d = modInverse(E, (p - 1n) * (q - 1n));
  const key = createPrivateKey({
    format: "jwk",
    key: {
      kty: "RSA",
      n: base64url(p * q),
      e: base64url(E),
      d: base64url(d),
      p: base64url(p),
      q: base64url(q),
      dp: base64url(d % (p - 1n)),
      dq: base64url(d % (q - 1n)),
      qi: base64url(modInverse(q, p)),
    },
  });
  return key.export({ type: "pkcs1", format: "pem" }) as string;
}

function deterministicEcKey(seed: string): string {
  // Any 32 bytes below the group order make a P-256 key; a SHA-256 value is below it but for 2^-32 odds.
  const privateKey = seededBytes(seed, 32);
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(privateKey);
  const point = ecdh.getPublicKey();
  const key = createPrivateKey({
    format: "jwk",
    key: {
      kty: "EC",
      crv: "P-256",
      d: privateKey.toString("base64url"),
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33, 65).toString("base64url"),
    },
  });
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}
