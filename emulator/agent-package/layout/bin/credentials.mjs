// Credentials of the stand-in agent (azure-pipelines-agent.md §2 steps 2, 5, 10-12):
// - configure and remove authenticate with the PAT as HTTP Basic, user "VstsAgent";
// - configure creates an RSA-2048 key pair first and keeps it in `.credentials_rsaparams` (chmod 600);
// - when the registration answer carries authorization.clientId + authorizationUrl, `.credentials`
//   holds only those (scheme OAuth) and no PAT; the listener then gets access tokens by sending a
//   client-credentials grant with an RS256 JWT assertion signed by that key. Otherwise the PAT itself
//   is stored (scheme PAT), as the real agent does on macOS/Linux.
import { Buffer } from "node:buffer";
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from "node:crypto";

const RSA_PARAMS_FILE = ".credentials_rsaparams";
const CREDENTIALS_FILE = ".credentials";
const EMPTY_GUID = "00000000-0000-0000-0000-000000000000";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export const basicPat = (token) => `Basic ${Buffer.from(`VstsAgent:${token}`).toString("base64")}`;

const toBase64 = (base64url) => Buffer.from(base64url, "base64url").toString("base64");
const toBase64Url = (base64) => Buffer.from(base64, "base64").toString("base64url");

/** Step 5: the key pair, stored as the .NET RSAParameters names with base64 values. Returns the public half. */
export function createRsaKeyFile(files) {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  files.writeText(
    RSA_PARAMS_FILE,
    JSON.stringify({
      d: toBase64(jwk.d),
      dp: toBase64(jwk.dp),
      dq: toBase64(jwk.dq),
      exponent: toBase64(jwk.e),
      inverseQ: toBase64(jwk.qi),
      modulus: toBase64(jwk.n),
      p: toBase64(jwk.p),
      q: toBase64(jwk.q),
    }),
    0o600,
  );
  return { exponent: toBase64(jwk.e), modulus: toBase64(jwk.n) };
}

function loadPrivateKey(files) {
  const rsa = files.readJson(RSA_PARAMS_FILE);
  return createPrivateKey({
    format: "jwk",
    key: {
      kty: "RSA",
      n: toBase64Url(rsa.modulus),
      e: toBase64Url(rsa.exponent),
      d: toBase64Url(rsa.d),
      p: toBase64Url(rsa.p),
      q: toBase64Url(rsa.q),
      dp: toBase64Url(rsa.dp),
      dq: toBase64Url(rsa.dq),
      qi: toBase64Url(rsa.inverseQ),
    },
  });
}

/** Step 11: what `.credentials` holds after a registration answer. */
export function saveCredentials(files, registeredAgent, pat) {
  const clientId = registeredAgent?.authorization?.clientId;
  const authorizationUrl = registeredAgent?.authorization?.authorizationUrl;
  const oauth = clientId && clientId !== EMPTY_GUID && authorizationUrl;
  const data = oauth
    ? { scheme: "OAuth", data: { clientId, authorizationUrl, oauthEndpointUrl: authorizationUrl } }
    : { scheme: "PAT", data: { token: pat } };
  files.writeText(CREDENTIALS_FILE, JSON.stringify(data, null, 2), 0o600);
  return data;
}

/**
 * The Authorization header the listener sends. For OAuth the access token is fetched on first use
 * and again after `invalidate()` (a 401 answer).
 */
export class ListenerCredential {
  constructor(files, http) {
    this.files = files;
    this.http = http;
    this.stored = files.readJson(CREDENTIALS_FILE);
    this.accessToken = undefined;
  }

  async header(signal) {
    if (this.stored.scheme === "PAT") return basicPat(this.stored.data.token);
    if (this.stored.scheme !== "OAuth")
      throw new Error(`Unsupported credential scheme ${this.stored.scheme}`);
    if (!this.accessToken) {
      try {
        this.accessToken = await requestAccessToken(this.files, this.http, this.stored.data, signal);
      } catch (error) {
        // A refused client assertion means this agent's key is no longer valid (e.g. another machine
        // ran --replace): as fatal as the 401 the real client turns it into.
        if (error.status === 400 || error.status === 401) {
          throw Object.assign(new Error(`Unable to get an access token for the agent: ${error.message}`), {
            status: 401,
          });
        }
        throw error;
      }
    }
    return `Bearer ${this.accessToken}`;
  }

  invalidate() {
    this.accessToken = undefined;
  }
}

/** Step 12: client-credentials grant with an RS256 JWT (iss = sub = clientId, aud = authorizationUrl). */
export async function requestAccessToken(
  files,
  http,
  { clientId, authorizationUrl, oauthEndpointUrl },
  signal,
) {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ alg: "RS256", typ: "JWT" })}.${encode({
    sub: clientId,
    iss: clientId,
    aud: authorizationUrl,
    jti: randomUUID(),
    nbf: now - 30,
    iat: now,
    exp: now + 300,
  })}`;
  const signature = sign("RSA-SHA256", Buffer.from(unsigned), loadPrivateKey(files)).toString("base64url");
  const answer = await http.json("POST", oauthEndpointUrl ?? authorizationUrl, {
    signal,
    form: {
      grant_type: "client_credentials",
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: `${unsigned}.${signature}`,
    },
  });
  if (!answer?.access_token) throw new Error("The token endpoint returned no access token.");
  return answer.access_token;
}
