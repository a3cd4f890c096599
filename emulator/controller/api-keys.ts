// User API Keys (reference §7.4): registered with POST /api/v1/apikey, each an RSA public key with a lifetime.
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { rfc3339Nano } from "./ids.ts";
import { ApiFailure, badRequest } from "./reply.ts";

export interface ApiKey {
  id: string;
  groups: string[];
  publicKey: KeyObject;
  ttlSeconds: number;
  createdAt: number;
  expiresAt: number;
}

export interface NewApiKey {
  id: string;
  ttlSeconds: number;
  groups: string[];
  /** Base64 of the PKIX (SubjectPublicKeyInfo) DER; a PEM is accepted too. */
  publicKey?: string;
}

/** Docs say 2048 bits (reference §7.4); any size is fine for the handshake. */
const GENERATED_KEY_BITS = 2048;

export class ApiKeyStore {
  private readonly keys = new Map<string, ApiKey>();

  constructor(private readonly nowMs: () => number) {}

  /** Returns the private key as PKCS#1 PEM when the emulator generated the pair, as the controller does once. */
  register(request: NewApiKey): string | undefined {
    if (this.get(request.id)) throw badRequest(`api key ${request.id} already exists`);
    let publicKey: KeyObject;
    let privateKeyPem: string | undefined;
    if (request.publicKey === undefined) {
      const pair = generateKeyPairSync("rsa", { modulusLength: GENERATED_KEY_BITS });
      publicKey = pair.publicKey;
      privateKeyPem = pair.privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    } else {
      publicKey = parsePublicKey(request.publicKey);
    }
    const createdAt = this.nowMs();
    this.keys.set(request.id, {
      id: request.id,
      groups: request.groups,
      publicKey,
      ttlSeconds: request.ttlSeconds,
      createdAt,
      expiresAt: createdAt + request.ttlSeconds * 1000,
    });
    return privateKeyPem;
  }

  /** A key that exists and has not expired; an expired key is forgotten. */
  get(id: string): ApiKey | undefined {
    const key = this.keys.get(id);
    if (key && this.nowMs() >= key.expiresAt) this.keys.delete(id);
    return this.keys.get(id);
  }

  delete(id: string): boolean {
    this.get(id);
    return this.keys.delete(id);
  }

  /** What GET /api/v1/apikey shows: never key material. */
  views(): object[] {
    return [...this.keys.keys()]
      .map((id) => this.get(id))
      .filter((key): key is ApiKey => key !== undefined)
      .map((key) => ({
        id: key.id,
        groups: key.groups,
        ttl: key.ttlSeconds,
        created: rfc3339Nano(key.createdAt),
        expires: rfc3339Nano(key.expiresAt),
      }));
  }
}

function parsePublicKey(text: string): KeyObject {
  let key: KeyObject;
  try {
    key = text.includes("-----BEGIN")
      ? createPublicKey(text)
      : createPublicKey({
          key: Buffer.from(text.replace(/\s+/g, ""), "base64"),
          format: "der",
          type: "spki",
        });
  } catch {
    throw badRequest("publicKey is not a base64 PKIX (SubjectPublicKeyInfo) DER public key");
  }
  if (key.asymmetricKeyType !== "rsa") throw new ApiFailure(400, "publicKey must be an RSA key");
  return key;
}
