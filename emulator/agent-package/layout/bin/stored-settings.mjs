/* global URL */
// How the real Agent.Listener reads its three files at `run` (agent-registration.md §1-§3), and
// how it fails: a missing or unreadable file, or a missing required member, ends the listener with
// exit code 2 before any request ("Not configured", "Credentials not stored", "RSA key file ... was
// not found", "Member 'd' was not found"). So a file the host renders wrong fails the tests.
// - `.agent` and `.credentials`: JSON, UTF-8 with or without BOM, member names case-insensitive,
//   unknown members ignored (Newtonsoft defaults); `.credentials` data keys case-insensitive.
// - `.credentials_rsaparams`: the eight RSAParameters names are case-sensitive, values standard
//   base64 with padding (Convert.FromBase64String refuses base64url).

export class ConfigurationError extends Error {
  constructor(message) {
    super(message);
    this.exitCode = 2;
  }
}

const BOM = "\uFEFF";
const RSA_MEMBERS = ["d", "dp", "dq", "exponent", "inverseQ", "modulus", "p", "q"];
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function readObject(files, name, missingMessage) {
  if (!files.exists(name)) throw new ConfigurationError(missingMessage);
  let text = files.readText(name);
  if (text.startsWith(BOM)) text = text.slice(1);
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(`Error parsing ${name}: ${error.message}`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new ConfigurationError(`Error parsing ${name}: not a JSON object`);
  return value;
}

/** Case-insensitive member lookup, as Newtonsoft binds properties. */
function member(object, name) {
  const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : object[key];
}

/** `.agent`, as AgentSettings with camel-case names. */
export function readAgentSettings(files) {
  const raw = readObject(files, ".agent", "Not configured");
  const text = (name) => (typeof member(raw, name) === "string" ? member(raw, name) : undefined);
  const number = (name) => (typeof member(raw, name) === "number" ? member(raw, name) : 0);
  const settings = {
    agentId: number("agentId"),
    agentName: text("agentName"),
    agentCloudId: text("agentCloudId"),
    poolId: number("poolId"),
    poolName: text("poolName"),
    serverUrl: text("serverUrl"),
    workFolder: text("workFolder"),
    acceptTeeEula: member(raw, "acceptTeeEula") === true,
  };
  // new Uri(null) in the first feature-flag lookup.
  if (!settings.serverUrl) throw new ConfigurationError("Value cannot be null. (Parameter 'uriString')");
  try {
    new URL(settings.serverUrl);
  } catch {
    throw new ConfigurationError(`Invalid URI: ${settings.serverUrl}`);
  }
  return settings;
}

/** `.credentials`: {scheme, data}; OAuth needs data.clientId and data.authorizationUrl. */
export function readStoredCredential(files) {
  const raw = readObject(files, ".credentials", "Credentials not stored.  Must reconfigure.");
  const scheme = member(raw, "scheme");
  const data = member(raw, "data") ?? {};
  if (typeof scheme !== "string") throw new ConfigurationError("Credentials not stored.  Must reconfigure.");
  const value = (name) => {
    const found = typeof data === "object" ? member(data, name) : undefined;
    return typeof found === "string" && found !== "" ? found : undefined;
  };
  if (scheme.toLowerCase() === "oauth") {
    const clientId = value("clientId");
    const authorizationUrl = value("authorizationUrl");
    if (!clientId) throw new ConfigurationError("Value cannot be null. (Parameter 'clientId')");
    if (!authorizationUrl)
      throw new ConfigurationError("Value cannot be null. (Parameter 'authorizationUrl')");
    return {
      scheme: "OAuth",
      data: { clientId, authorizationUrl, oauthEndpointUrl: value("oauthEndpointUrl") ?? authorizationUrl },
    };
  }
  if (scheme.toLowerCase() === "pat") return { scheme: "PAT", data: { token: value("token") } };
  throw new ConfigurationError(`Unable to find a credential provider for '${scheme}'.`);
}

/** `.credentials_rsaparams`: the eight byte arrays, exact names, standard base64. */
export function readRsaParameters(files) {
  const path = files.file(".credentials_rsaparams");
  const raw = readObject(files, ".credentials_rsaparams", `RSA key file ${path} was not found`);
  const params = {};
  for (const name of RSA_MEMBERS) {
    if (!(name in raw)) throw new ConfigurationError(`Member '${name}' was not found.`);
    const value = raw[name];
    if (typeof value !== "string" || !STANDARD_BASE64.test(value))
      throw new ConfigurationError(
        `The input is not a valid Base-64 string as it contains a non-base 64 character (member '${name}').`,
      );
    params[name] = value;
  }
  return params;
}
