// RS256 JSON Web Tokens checked against an agent's registered RSA public key. The agent proves its
// identity with such a client assertion (azure-pipelines-agent.md §2 step 12).
import { createPublicKey, verify } from "node:crypto";
import type { PublicKey } from "./records.ts";

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

/** The claims when the signature verifies with `key`, undefined otherwise. */
export function verifyRs256(token: string, key: PublicKey): JwtClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  try {
    const alg = (JSON.parse(Buffer.from(header, "base64url").toString()) as { alg?: string }).alg;
    if (alg !== "RS256") return undefined;
    const publicKey = createPublicKey({
      key: { kty: "RSA", n: base64ToBase64Url(key.modulus), e: base64ToBase64Url(key.exponent) },
      format: "jwk",
    });
    const valid = verify(
      "RSA-SHA256",
      Buffer.from(`${header}.${payload}`),
      publicKey,
      Buffer.from(signature, "base64url"),
    );
    return valid ? (JSON.parse(Buffer.from(payload, "base64url").toString()) as JwtClaims) : undefined;
  } catch {
    return undefined;
  }
}

const base64ToBase64Url = (text: string) => Buffer.from(text, "base64").toString("base64url");
