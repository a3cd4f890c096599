// Endpoints of UAK authentication (reference §7.4): key management under /api/v1 and the handshake under /tap/v1.
import type { RouteTable } from "./api-routes.ts";
import type { ApiKeyStore } from "./api-keys.ts";
import { FieldReader, parseJsonObject } from "./json-fields.ts";
import { ApiFailure, badRequest, failEnvelope, jsonReply, okEnvelope, textReply } from "./reply.ts";
import type { TapService } from "./tap.ts";

/** The only refusal text the reference evidences (§1); used for every handshake failure. */
const AUTHENTICATION_REQUIRED = "Authentication Required";

export function apiKeyRoutes(keys: ApiKeyStore, tap: TapService): RouteTable {
  return {
    "/api/v1/apikey": {
      // Managing keys takes the root token (reference §7.4 "root auth"); the gate has already
      // refused requests with no valid credential at all.
      GET: ({ identity }) => {
        requireRoot(identity?.method);
        return okEnvelope(keys.views());
      },
      POST: ({ identity, rawBody }) => {
        requireRoot(identity?.method);
        const body = parseJsonObject(rawBody, "CreateApiKeyRequest");
        const fields = new FieldReader(body, "CreateApiKeyRequest", false);
        const id = fields.string("id");
        if (!id) throw badRequest("Missing api key id");
        const ttlSeconds = fields.int("ttl");
        if (ttlSeconds === undefined || ttlSeconds <= 0)
          throw badRequest("ttl must be a positive number of seconds");
        const groups = stringArray(body.groups);
        const privateKeyPem = keys.register({
          id,
          ttlSeconds,
          groups,
          publicKey: fields.string("publicKey"),
        });
        return okEnvelope(privateKeyPem);
      },
      DELETE: ({ identity, rawBody }) => {
        requireRoot(identity?.method);
        const body = rawBody.trim() === "" ? {} : parseJsonObject(rawBody, "DeleteApiKeyRequest");
        const id = new FieldReader(body, "DeleteApiKeyRequest", false).string("id");
        if (!id) throw badRequest('Missing api key id: send a JSON body {"id": "<key id>"}');
        if (!keys.delete(id)) throw new ApiFailure(404, "Not found");
        return okEnvelope();
      },
    },
    "/tap/v1/hand": {
      POST: ({ rawBody }) => {
        const id = new FieldReader(parseJsonObject(rawBody, "HandRequest"), "HandRequest", false).string(
          "id",
        );
        // Undocumented (reference §7.4, §13): an unknown or expired key gets the same 401 as any
        // refused credential, which also does not reveal whether an id exists.
        const ciphertext = id ? tap.hand(id) : undefined;
        if (ciphertext === undefined) return failEnvelope(401, AUTHENTICATION_REQUIRED);
        return textReply(200, ciphertext);
      },
    },
    "/tap/v1/shake": {
      POST: ({ rawBody }) => {
        const fields = new FieldReader(parseJsonObject(rawBody, "ShakeRequest"), "ShakeRequest", false);
        const answer = tap.shake(fields.string("id") ?? "", fields.string("secret") ?? "");
        if (!answer) return failEnvelope(401, AUTHENTICATION_REQUIRED);
        return jsonReply(200, answer);
      },
    },
  };
}

function requireRoot(method: string | undefined): void {
  if (method !== "root token")
    throw new ApiFailure(403, "Forbidden: only the root token may manage API keys");
}

function stringArray(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === "string")) {
    throw badRequest(
      "json: cannot unmarshal into Go struct field CreateApiKeyRequest.groups of type []string",
    );
  }
  return value;
}
