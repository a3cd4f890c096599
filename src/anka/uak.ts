import { constants, createPrivateKey, privateDecrypt, type KeyObject } from "node:crypto";
import type { Authenticator, AuthenticatorContext, AuthenticatorFactory } from "./auth.ts";
import { ControllerResponseError, UakHandshakeError, type RequestDescription } from "./errors.ts";
import type { RawResponse } from "../net/http.ts";

/** A User API Key (reference §7.4): its id and the private key the controller gave (or was given the public half of). */
export interface UakOptions {
  id: string;
  /** PEM (PKCS#1 or PKCS#8), or the bare base64 body the controller shows, newlines optional. */
  privateKey: string;
  /**
   * The controller's session lifetime (ANKA_API_KEYS_SESSION_TTL) when known. Sessions are
   * renewed before it ends; default 5 minutes, the controller's default (reference §7.4 step 5).
   */
  sessionTtlMs?: number;
  /** Told each new session bearer, so that the adapter can mask it before it could be logged. */
  onSessionToken?: (bearer: string) => void;
}

export const DEFAULT_UAK_SESSION_TTL_MS = 5 * 60_000;

const KEY_FIX = "paste the PEM or its base64 body";

/**
 * UAK + TAP authentication. Returns a factory because the handshake talks to the controller: the
 * transport hands it a POST over the client's own connection pool, so the handshake uses the same
 * URL, TLS settings and timeout as every other request, and there is one HTTP layer (the client
 * wires it: `new AnkaClient({ url, auth: uakAuthentication({ id, privateKey }) })`).
 *
 * The key is checked here, when the connection is read, not at the first request.
 */
export function uakAuthentication(options: UakOptions): AuthenticatorFactory {
  const id = options.id.trim();
  if (id === "") throw new Error("The UAK id is empty: give the id of the User API Key");
  const key = parseUakPrivateKey(options.privateKey);
  const ttlMs = options.sessionTtlMs ?? DEFAULT_UAK_SESSION_TTL_MS;
  return (context) => new UakSession(id, key, renewAfterMs(ttlMs), context, options.onSessionToken);
}

/** Renew ahead of the session's end: a fifth of its life early, at most a minute (5 min → 4 min). */
export function renewAfterMs(sessionTtlMs: number): number {
  return sessionTtlMs - Math.min(60_000, sessionTtlMs / 5);
}

/**
 * The forms people paste: a PEM (PKCS#1 `RSA PRIVATE KEY` as the controller hands out, or PKCS#8),
 * possibly flattened to one line by a form field or with literal `\n`, or only the base64 body.
 */
export function parseUakPrivateKey(text: string): KeyObject {
  const pem = text.replace(/\\n/g, "\n").trim();
  const armored = /^-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----$/.exec(pem);
  if (armored && (armored[1]?.includes("ENCRYPTED") || /Proc-Type:\s*4,\s*ENCRYPTED/.test(pem))) {
    throw new Error(
      `UAK private key is encrypted: the controller hands it out unencrypted; ${KEY_FIX} as the controller gave it`,
    );
  }
  const body = (armored ? (armored[2] ?? "") : pem).replace(/\s+/g, "");
  const der = /^[A-Za-z0-9+/]+=*$/.test(body) ? Buffer.from(body, "base64") : undefined;
  const key = der && (derKey(der, "pkcs1") ?? derKey(der, "pkcs8"));
  if (!key || key.asymmetricKeyType !== "rsa") {
    throw new Error(`UAK private key is not a valid RSA private key: ${KEY_FIX}`);
  }
  return key;
}

function derKey(der: Buffer, type: "pkcs1" | "pkcs8"): KeyObject | undefined {
  try {
    return createPrivateKey({ key: der, format: "der", type });
  } catch {
    return undefined;
  }
}

/** The bearer token: standard base64 of the JSON of the shake's `data` (reference §7.4 step 4). */
export function encodeBearer(data: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(data), "utf8").toString("base64");
}

/**
 * The hand answer: raw base64 of the ciphertext. Official clients decode it with the standard
 * alphabet, the docs say URL-safe (reference §13): accept both, and a JSON string too.
 */
export function decodeHandAnswer(text: string): Buffer | undefined {
  let encoded = text.trim();
  if (encoded.startsWith('"')) {
    try {
      encoded = String(JSON.parse(encoded));
    } catch {
      return undefined;
    }
  }
  if (!/^[A-Za-z0-9+/_-]+=*$/.test(encoded)) return undefined;
  return Buffer.from(encoded.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

interface Session {
  authorization: string;
  renewAt: number;
}

/**
 * One cached session, renewed before its end and once when the controller refuses it. Requests
 * that need a session while a handshake runs wait for that handshake: one hand+shake at a time.
 */
class UakSession implements Authenticator {
  readonly method = "UAK";
  readonly refusalAdvice =
    "The controller refused a fresh UAK session: check that the User API Key still exists and that its groups allow this request.";
  private session: Session | undefined;
  private handshake: Promise<string> | undefined;

  constructor(
    private readonly id: string,
    private readonly key: KeyObject,
    private readonly renewAfterMs: number,
    private readonly context: AuthenticatorContext,
    private readonly onSessionToken: ((bearer: string) => void) | undefined,
  ) {}

  async headers(): Promise<Record<string, string>> {
    const session = this.session;
    if (session && this.context.clock.now() < session.renewAt)
      return { authorization: session.authorization };
    return { authorization: await this.freshSession() };
  }

  async renew(rejected?: Record<string, string>): Promise<boolean> {
    // A request sent with an older session: another request has renewed it already.
    const current = this.session?.authorization;
    if (
      current !== undefined &&
      rejected?.authorization !== undefined &&
      rejected.authorization !== current
    ) {
      return true;
    }
    this.session = undefined;
    await this.freshSession();
    return true;
  }

  private freshSession(): Promise<string> {
    this.handshake ??= this.shakeHands().finally(() => {
      this.handshake = undefined;
    });
    return this.handshake;
  }

  /** reference §7.4 steps 1-4. */
  private async shakeHands(): Promise<string> {
    const startedAt = this.context.clock.now();
    const hand = await this.context.post("/tap/v1/hand", { id: this.id });
    if (hand.response.status !== 200) throw this.handRefused(hand.request, hand.response);
    const ciphertext = decodeHandAnswer(hand.response.text);
    if (!ciphertext) {
      throw new ControllerResponseError(
        hand.request,
        hand.response.status,
        "the UAK handshake answer is not base64",
        hand.response.text,
      );
    }
    const secret = this.decrypt(hand.request, ciphertext);
    const shake = await this.context.post("/tap/v1/shake", { id: this.id, secret });
    if (shake.response.status !== 200) {
      // The secret lives seconds and serves once (reference §7.4 step 3): a retry starts a new handshake.
      throw new UakHandshakeError(
        shake.request,
        `The Anka controller refused the UAK handshake secret for UAK id "${this.id}" (${answerSummary(shake.response)}): it expired or was used already. This is retried with a new handshake; if it persists, check the clocks and the network delay to the controller.`,
        shake.response.status >= 500 || shake.response.status === 401,
      );
    }
    const data = sessionData(shake.response.text);
    if (!data) {
      throw new ControllerResponseError(
        shake.request,
        shake.response.status,
        'the UAK handshake answer is not {"id", "data": {...}}',
        "",
      );
    }
    const bearer = encodeBearer(data);
    this.onSessionToken?.(bearer);
    const authorization = `Bearer ${bearer}`;
    this.session = { authorization, renewAt: startedAt + this.renewAfterMs };
    return authorization;
  }

  private decrypt(request: RequestDescription, ciphertext: Buffer): string {
    try {
      return privateDecrypt(
        { key: this.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
        ciphertext,
      ).toString("utf8");
    } catch {
      throw new UakHandshakeError(
        request,
        `The UAK private key does not belong to UAK id "${this.id}": it cannot decrypt the controller's handshake. Give the private key that was created together with this UAK id (or the id of the key you have).`,
        false,
      );
    }
  }

  private handRefused(request: RequestDescription, response: RawResponse): UakHandshakeError {
    const summary = answerSummary(response);
    if (response.status >= 500) {
      return new UakHandshakeError(
        request,
        `The Anka controller failed the UAK handshake for UAK id "${this.id}" (${summary})`,
        true,
      );
    }
    if (response.status === 404) {
      return new UakHandshakeError(
        request,
        `The Anka controller has no UAK handshake for UAK id "${this.id}" (${summary}): either the id is unknown (check it in the connection) or API keys are not enabled on the controller (ANKA_ENABLE_API_KEYS).`,
        false,
      );
    }
    return new UakHandshakeError(
      request,
      `The Anka controller does not accept UAK id "${this.id}" (${summary}): the id is unknown, deleted or expired. Check the UAK id in the connection, or create a key on the controller (UI, or POST /api/v1/apikey) and give its id and private key.`,
      false,
    );
  }
}

/** `HTTP 401: Authentication Required`: the status and the controller's message, never a body excerpt of unknown content. */
function answerSummary(response: RawResponse): string {
  try {
    const message = (JSON.parse(response.text) as { message?: unknown }).message;
    if (typeof message === "string" && message !== "") return `HTTP ${response.status}: ${message}`;
  } catch {
    // Not the envelope: the status alone says enough.
  }
  return `HTTP ${response.status}`;
}

function sessionData(text: string): Record<string, unknown> | undefined {
  try {
    const data = (JSON.parse(text) as { data?: unknown }).data;
    return typeof data === "object" && data !== null && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
