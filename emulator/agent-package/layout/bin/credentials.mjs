// Credentials of the stand-in agent (azure-pipelines-agent.md §2 steps 2, 5, 10-12):
// - configure and remove authenticate with the PAT as HTTP Basic, user "VstsAgent";
// - configure creates an RSA-2048 key pair first and keeps it in `.credentials_rsaparams` (chmod 600);
// - when the registration answer carries authorization.clientId + authorizationUrl, `.credentials`
//   holds only those (scheme OAuth) and no PAT; the listener then gets access tokens by sending a
//   client-credentials grant with an RS256 JWT assertion signed by that key. Otherwise the PAT itself
//   is stored (scheme PAT), as the real agent does on macOS/Linux.
import { Buffer } from "node:buffer";
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { readRsaParameters, readStoredCredential } from "./stored-settings.mjs";

const RSA_PARAMS_FILE = ".credentials_rsaparams";
const CREDENTIALS_FILE = ".credentials";
const EMPTY_GUID = "00000000-0000-0000-0000-000000000000";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export const basicPat = (token) => `Basic ${Buffer.from(`VstsAgent:${token}`).toString("base64")}`;

const toBase64 = (base64url) => Buffer.from(base64url, "base64url").toString("base64");

/**
 * Step 5: the key pair, stored as .NET writes RSAParameters (agent-registration.md §3): ContainerName
 * and UseCng first, then the eight case-sensitive names, standard base64, d padded to the modulus
 * length and the CRT values to half of it. Returns the public half.
 */
export function createRsaKeyFile(files) {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const size = Buffer.from(jwk.n, "base64url").length;
  const padded = (value, length) => {
    const bytes = Buffer.from(value, "base64url");
    return Buffer.concat([Buffer.alloc(Math.max(0, length - bytes.length)), bytes]).toString("base64");
  };
  const half = Math.ceil(size / 2);
  const params = {
    ContainerName: "",
    UseCng: false,
    d: padded(jwk.d, size),
    dp: padded(jwk.dp, half),
    dq: padded(jwk.dq, half),
    exponent: toBase64(jwk.e),
    inverseQ: padded(jwk.qi, half),
    modulus: toBase64(jwk.n),
    p: padded(jwk.p, half),
    q: padded(jwk.q, half),
  };
  files.writeText(RSA_PARAMS_FILE, `\uFEFF${JSON.stringify(params, null, 2)}`, 0o600);
  return { exponent: params.exponent, modulus: params.modulus };
}

/** .NET reads big-endian integers with leading zeros; a JWK wants them minimal. */
const minimalBase64Url = (base64) => {
  const bytes = Buffer.from(base64, "base64");
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start).toString("base64url");
};

export function loadPrivateKey(files) {
  const rsa = readRsaParameters(files);
  return createPrivateKey({
    format: "jwk",
    key: {
      kty: "RSA",
      n: minimalBase64Url(rsa.modulus),
      e: minimalBase64Url(rsa.exponent),
      d: minimalBase64Url(rsa.d),
      p: minimalBase64Url(rsa.p),
      q: minimalBase64Url(rsa.q),
      dp: minimalBase64Url(rsa.dp),
      dq: minimalBase64Url(rsa.dq),
      qi: minimalBase64Url(rsa.inverseQ),
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
  // Mode by umask: the file holds no secret in OAuth mode (agent-registration.md §1.1).
  files.writeText(CREDENTIALS_FILE, `\uFEFF${JSON.stringify(data, null, 2)}`);
  return data;
}

/**
 * The Authorization header the listener sends. For OAuth none until the server challenges a bare
 * request (agent-registration.md §4.2); the access token is then fetched, and kept until
 * `invalidate()` (a 401 answer).
 */
export class ListenerCredential {
  constructor(files, http) {
    this.files = files;
    this.http = http;
    this.stored = readStoredCredential(files);
    // The OAuth credential loads its key as soon as it is built (a missing key file: exit 2).
    this.privateKey = this.stored.scheme === "OAuth" ? loadPrivateKey(files) : undefined;
    this.accessToken = undefined;
  }

  async header(signal, challenged) {
    if (this.stored.scheme === "PAT") return basicPat(this.stored.data.token);
    if (this.stored.scheme !== "OAuth")
      throw new Error(`Unsupported credential scheme ${this.stored.scheme}`);
    if (!this.accessToken && !challenged) return undefined;
    if (!this.accessToken) {
      try {
        this.accessToken = await requestAccessToken(this.privateKey, this.http, this.stored.data, signal);
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

/**
 * Step 12 (agent-registration.md §4.3-§4.4): client-credentials grant with an RS256 JWT, header
 * {"typ","alg"}, claims sub, jti, iss, aud, nbf, exp in that order (no iat), five minutes long.
 */
export async function requestAccessToken(
  privateKey,
  http,
  { clientId, authorizationUrl, oauthEndpointUrl },
  signal,
) {
  const now = Math.round(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${encode({ typ: "JWT", alg: "RS256" })}.${encode({
    sub: clientId,
    jti: randomUUID(),
    iss: clientId,
    aud: authorizationUrl,
    nbf: now,
    exp: now + 300,
  })}`;
  const signature = sign("RSA-SHA256", Buffer.from(unsigned), privateKey).toString("base64url");
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
