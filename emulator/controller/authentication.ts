// Assembles the emulator's authentication from its options, checking them as the controller checks its configuration.
import type { RouteTable } from "./api-routes.ts";
import { ApiKeyStore } from "./api-keys.ts";
import { createAuthGate, type AuthGate } from "./auth-gate.ts";
import { apiKeyRoutes } from "./auth-routes.ts";
import { TapService } from "./tap.ts";
import type { EmulatorAuthOptions, EmulatorTlsOptions } from "./types.ts";

export interface Authentication {
  gate: AuthGate | undefined;
  routes: RouteTable;
  tap: TapService | undefined;
}

const DEFAULT_SESSION_TTL_MS = 300_000;
const DEFAULT_SECRET_TTL_MS = 10_000;
/** reference §7: ANKA_ROOT_TOKEN must be at least 10 characters. */
const MIN_ROOT_TOKEN_LENGTH = 10;

export function createAuthentication(
  auth: EmulatorAuthOptions | undefined,
  tls: EmulatorTlsOptions | undefined,
  nowMs: () => number,
): Authentication {
  if (!auth) return { gate: undefined, routes: {}, tap: undefined };
  const { rootToken } = auth;
  if (rootToken === undefined) {
    throw new Error(
      "auth.rootToken is required: the controller needs ANKA_ROOT_TOKEN for every auth feature",
    );
  }
  if (rootToken.length < MIN_ROOT_TOKEN_LENGTH) {
    throw new Error(
      `auth.rootToken must have at least ${MIN_ROOT_TOKEN_LENGTH} characters, as ANKA_ROOT_TOKEN`,
    );
  }
  if (auth.clientCertificates && !tls?.ca) {
    throw new Error(
      "auth.clientCertificates needs tls with a ca (ANKA_CA_CERT) to verify client certificates",
    );
  }
  const keys = auth.apiKeys ? new ApiKeyStore(nowMs) : undefined;
  const tap = keys
    ? new TapService(
        keys,
        {
          sessionTtlMs: auth.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
          handshakeSecretTtlMs: auth.handshakeSecretTtlMs ?? DEFAULT_SECRET_TTL_MS,
        },
        nowMs,
      )
    : undefined;
  return {
    gate: createAuthGate({ rootToken, tap, clientCertificates: auth.clientCertificates ?? false }),
    routes: keys && tap ? apiKeyRoutes(keys, tap) : {},
    tap,
  };
}
