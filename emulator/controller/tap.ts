// The Token Authentication Protocol (reference §7.4): hand out an encrypted secret, trade it for a session.
import { constants, publicEncrypt, randomBytes } from "node:crypto";
import type { ApiKeyStore } from "./api-keys.ts";
import { controllerId } from "./ids.ts";
import type { AuthIdentity } from "./types.ts";

export interface TapTiming {
  sessionTtlMs: number;
  handshakeSecretTtlMs: number;
}

/** What POST /tap/v1/shake answers (not the envelope, reference §7.4 step 3). */
export interface ShakeAnswer {
  id: string;
  data: { userName: string; token: string; sessionId: string };
}

/** A live session, for tests that look for leaked tokens. */
export interface TapSession {
  keyId: string;
  token: string;
  sessionId: string;
  expiresAt: number;
}

interface PendingSecret {
  keyId: string;
  expiresAt: number;
}

export class TapService {
  private readonly secrets = new Map<string, PendingSecret>();
  private readonly sessionsByToken = new Map<string, TapSession>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly timing: TapTiming,
    private readonly nowMs: () => number,
  ) {}

  /**
   * Step 1: a fresh secret (URL-safe base64 characters, like the documented example) encrypted
   * with RSA-OAEP, SHA-256, MGF1-SHA-256, no label, sent as standard base64. Undefined for an
   * unknown or expired key.
   */
  hand(keyId: string): string | undefined {
    const key = this.keys.get(keyId);
    if (!key) return undefined;
    this.forgetExpired();
    const secret = randomBytes(20).toString("base64url");
    this.secrets.set(secret, { keyId, expiresAt: this.nowMs() + this.timing.handshakeSecretTtlMs });
    return publicEncrypt(
      { key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from(secret, "utf8"),
    ).toString("base64");
  }

  /** Step 3: the secret serves once, whether the shake succeeds or not. */
  shake(keyId: string, secret: string): ShakeAnswer | undefined {
    const pending = this.secrets.get(secret);
    this.secrets.delete(secret);
    if (!pending || pending.keyId !== keyId || this.nowMs() >= pending.expiresAt) return undefined;
    if (!this.keys.get(keyId)) return undefined;
    const session: TapSession = {
      keyId,
      token: randomBytes(24).toString("base64url"),
      sessionId: controllerId(),
      expiresAt: this.nowMs() + this.timing.sessionTtlMs,
    };
    this.sessionsByToken.set(session.token, session);
    return { id: keyId, data: { userName: keyId, token: session.token, sessionId: session.sessionId } };
  }

  /**
   * Step 4: the bearer is base64 of the JSON of `data`, in any key order. A session ends at its
   * TTL (not extended by use) or when its key is deleted or expires.
   */
  identify(bearer: string): AuthIdentity | undefined {
    const data = decodeBearer(bearer);
    if (!data) return undefined;
    const session = this.sessionsByToken.get(data.token);
    if (!session || session.sessionId !== data.sessionId || session.keyId !== data.userName) {
      return undefined;
    }
    const key = this.keys.get(session.keyId);
    if (!key || this.nowMs() >= session.expiresAt) {
      this.sessionsByToken.delete(session.token);
      return undefined;
    }
    return { method: "uak", user: key.id, groups: key.groups };
  }

  sessions(): TapSession[] {
    return [...this.sessionsByToken.values()].filter((session) => this.nowMs() < session.expiresAt);
  }

  private forgetExpired(): void {
    const now = this.nowMs();
    for (const [secret, pending] of this.secrets) if (now >= pending.expiresAt) this.secrets.delete(secret);
    for (const [token, session] of this.sessionsByToken) {
      if (now >= session.expiresAt) this.sessionsByToken.delete(token);
    }
  }
}

function decodeBearer(bearer: string): { userName: string; token: string; sessionId: string } | undefined {
  try {
    const data = JSON.parse(Buffer.from(bearer, "base64").toString("utf8")) as Record<string, unknown>;
    const { userName, token, sessionId } = data;
    if (typeof userName !== "string" || typeof token !== "string" || typeof sessionId !== "string") {
      return undefined;
    }
    return { userName, token, sessionId };
  } catch {
    return undefined;
  }
}
