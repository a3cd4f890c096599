// The credential a registered agent listens with. azure-pipelines-agent.md §2 steps 10-12: the
// service answers the registration with `authorization.clientId` + `authorizationUrl`; the agent then
// stores no PAT (`.credentials` scheme OAuth) and gets access tokens by POSTing a client-credentials
// grant whose `client_assertion` is an RS256 JWT (iss = sub = clientId, aud = authorizationUrl) signed
// with the private half of the key it registered. We emulate exactly that exchange: it needs no secret
// from the environment at run time, and `--replace` (new key) locks the previous key holder out.
import { randomBytes } from "node:crypto";
import { verifyRs256 } from "./jwt.ts";
import type { AgentRecord } from "./records.ts";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** §2 step 12: a clock off by more than five minutes fails ("LocalClockSkewed"). */
const ALLOWED_SKEW_S = 300;
const TOKEN_LIFETIME_S = 3600;

export interface AgentPrincipalRef {
  agentId: number;
  poolId: number;
}

/** RFC 6749 §5.2 error answer of the token endpoint. */
export class OAuthError extends Error {
  constructor(
    readonly error: "invalid_request" | "invalid_client" | "unsupported_grant_type",
    description: string,
  ) {
    super(description);
  }

  toJSON() {
    return { error: this.error, error_description: this.message };
  }
}

export class AgentCredentials {
  private readonly accessTokens = new Map<string, AgentPrincipalRef & { expiresAt: number }>();

  constructor(readonly authorizationUrl: string) {}

  exchange(
    form: URLSearchParams,
    agentByClientId: (clientId: string) => AgentRecord | undefined,
    now: number,
  ) {
    if (form.get("grant_type") !== "client_credentials") {
      throw new OAuthError("unsupported_grant_type", "grant_type must be client_credentials");
    }
    if (form.get("client_assertion_type") !== ASSERTION_TYPE) {
      throw new OAuthError("invalid_request", `client_assertion_type must be ${ASSERTION_TYPE}`);
    }
    const assertion = form.get("client_assertion") ?? "";
    const unverified = decodeClaims(assertion);
    const agent = unverified?.iss ? agentByClientId(unverified.iss) : undefined;
    if (!agent?.publicKey) throw new OAuthError("invalid_client", "Unknown client.");
    const claims = verifyRs256(assertion, agent.publicKey);
    if (!claims) throw new OAuthError("invalid_client", "The client assertion signature is not valid.");
    const seconds = Math.floor(now / 1000);
    if (claims.sub !== agent.clientId || !sameUrl(claims.aud, this.authorizationUrl)) {
      throw new OAuthError("invalid_client", "The client assertion has the wrong subject or audience.");
    }
    if (typeof claims.exp !== "number" || claims.exp + ALLOWED_SKEW_S < seconds) {
      throw new OAuthError("invalid_client", "The client assertion has expired.");
    }
    if (typeof claims.nbf === "number" && claims.nbf - ALLOWED_SKEW_S > seconds) {
      throw new OAuthError("invalid_client", "The client assertion is not valid yet.");
    }
    const accessToken = randomBytes(32).toString("base64url");
    this.accessTokens.set(accessToken, {
      agentId: agent.id,
      poolId: agent.poolId,
      expiresAt: now + TOKEN_LIFETIME_S * 1000,
    });
    return { access_token: accessToken, token_type: "bearer", expires_in: TOKEN_LIFETIME_S };
  }

  principalFor(accessToken: string, now: number): AgentPrincipalRef | undefined {
    const entry = this.accessTokens.get(accessToken);
    if (!entry || entry.expiresAt <= now) return undefined;
    return { agentId: entry.agentId, poolId: entry.poolId };
  }

  /** After --replace or delete, tokens issued for the old key stop working. */
  revoke(agentId: number): void {
    for (const [token, entry] of this.accessTokens)
      if (entry.agentId === agentId) this.accessTokens.delete(token);
  }
}

function decodeClaims(token: string): { iss?: string } | undefined {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as { iss?: string };
  } catch {
    return undefined;
  }
}

const sameUrl = (a: string | undefined, b: string) =>
  a !== undefined && a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
