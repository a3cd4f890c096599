import { generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

/**
 * The agent's own RSA key pair, in the two shapes the agent uses (agent-registration.md §3): the
 * public half as the registration body's `authorization.publicKey`, the whole key as the
 * `.credentials_rsaparams` file that `run.sh` signs its token requests with.
 */
export interface AgentKey {
  /** Standard base64 big-endian byte arrays, as the agent's serializer writes them. */
  publicKey: { exponent: string; modulus: string };
  /** The text of `.credentials_rsaparams` (without the BOM the script adds). Secret. */
  rsaParamsFile: string;
  /** Each private value on its own, for masking: a log line may show one without the others. */
  privateValues: string[];
}

/** RSA-2048, as `config.sh` makes (RSACryptoServiceProvider(2048)); the signing side refuses less. */
const KEY_BITS = 2048;

/** A fresh RSA-2048 private key, made off the event loop (it takes tens of milliseconds). */
export async function generateAgentPrivateKey(): Promise<KeyObject> {
  return (await promisify(generateKeyPair)("rsa", { modulusLength: KEY_BITS })).privateKey;
}

/** The agent's key in its two shapes, from a private key (fresh, or a fixed one in tests). */
export function createAgentKey(key: KeyObject): AgentKey {
  const jwk = key.export({ format: "jwk" });
  const modulusBytes = Buffer.from(jwk.n ?? "", "base64url");
  if (key.asymmetricKeyType !== "rsa" || modulusBytes.length * 8 < KEY_BITS) {
    throw new Error(`The agent key must be an RSA key of at least ${KEY_BITS} bits`);
  }
  const half = Math.ceil(modulusBytes.length / 2);
  // .NET's RSAParameters lengths: d as long as the modulus, the CRT values half of it; Node's JWK
  // values are minimal, so a leading zero byte may be missing (§3 "Lengths").
  const value = (text: string | undefined, length?: number) => {
    const bytes = Buffer.from(text ?? "", "base64url");
    const padded =
      length && bytes.length < length ? Buffer.concat([Buffer.alloc(length - bytes.length), bytes]) : bytes;
    return padded.toString("base64");
  };
  const params = {
    d: value(jwk.d, modulusBytes.length),
    dp: value(jwk.dp, half),
    dq: value(jwk.dq, half),
    exponent: value(jwk.e),
    inverseQ: value(jwk.qi, half),
    modulus: value(jwk.n),
    p: value(jwk.p, half),
    q: value(jwk.q, half),
  };
  // Member order and casing as the agent's ISerializable writer: ContainerName and UseCng first,
  // then the eight case-sensitive parameter names.
  const file = { ContainerName: "", UseCng: false, ...params };
  return {
    publicKey: { exponent: params.exponent, modulus: params.modulus },
    rsaParamsFile: agentJsonText(file),
    privateValues: [params.d, params.dp, params.dq, params.inverseQ, params.p, params.q],
  };
}

/**
 * The agent's JSON file layout (§1.1): two-space indent, LF, no final newline. The UTF-8 BOM the
 * agent also writes is added by the startup script, which keeps the values ASCII.
 */
export function agentJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
