// `config.sh --unattended --auth pat ...`: the registration sequence of azure-pipelines-agent.md §2,
// step by step, with the real agent's console messages.
import os from "node:os";
import { URL } from "node:url";
import { AgentServer } from "./agent-server.mjs";
import { scanCapabilities } from "./capabilities.mjs";
import {
  basicPat,
  createRsaKeyFile,
  loadPrivateKey,
  requestAccessToken,
  saveCredentials,
} from "./credentials.mjs";
import { Terminal } from "./terminal.mjs";

class ConfigError extends Error {}

const invalid = (name) =>
  new ConfigError(`Invalid configuration provided for ${name}. Terminating unattended configuration.`);

/** §2 step 0: unattended mode takes defaults for pool/agent/work and fails on missing url/auth/token. */
function readInputs(settings) {
  if (!settings.flag("unattended")) {
    throw new ConfigError("The stand-in agent only supports unattended configuration (--unattended).");
  }
  const url = settings.arg("url");
  let parsed;
  try {
    parsed = new URL(url ?? "");
  } catch {
    throw invalid("url");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw invalid("url");
  // PAT is the default only for https URLs with a dotted host (CredentialManager, §2 step 2).
  const defaultAuth = parsed.protocol === "https:" && parsed.hostname.includes(".") ? "pat" : undefined;
  const auth = (settings.arg("auth") ?? defaultAuth)?.toLowerCase();
  if (auth === undefined) throw invalid("auth");
  if (auth !== "pat") throw new ConfigError(`The stand-in agent supports only --auth pat, not '${auth}'.`);
  const token = settings.arg("token");
  if (!token) throw invalid("token");
  const proxyUrl = settings.arg("proxyurl");
  return {
    url: url.replace(/\/+$/, ""),
    token,
    pool: settings.arg("pool") ?? "default",
    agentName: settings.arg("agent") ?? os.hostname(),
    work: settings.arg("work") ?? "_work",
    replace: settings.flag("replace"),
    proxy: proxyUrl
      ? { url: proxyUrl, username: settings.arg("proxyusername"), password: settings.arg("proxypassword") }
      : undefined,
  };
}

/** The agent's own OS description (RuntimeInformation.OSDescription). */
export const osDescription = () => `${os.type()} ${os.release()} ${os.version()}`;

export async function configure({ files, settings, version, makeHttp, term }) {
  if (files.exists(".agent")) {
    term.error(
      "Cannot configure the agent because it is already configured. To reconfigure the agent, run 'config.cmd remove' or './config.sh remove' first.",
    );
    return 1;
  }
  let inputs;
  try {
    inputs = readInputs(settings);
  } catch (error) {
    term.error(error.message);
    return 1;
  }
  for (const secret of settings.secrets()) term.addSecret(secret);
  const http = makeHttp(inputs.proxy);
  const server = new AgentServer(http, inputs.url, async () => basicPat(inputs.token));

  try {
    term.section("Connect");
    term.line("Connecting to server ...");
    await server.connectionData();

    term.section("Register Agent");
    const publicKey = createRsaKeyFile(files);
    const pool = await server.findPool(inputs.pool);
    if (!pool) throw new ConfigError(`Agent pool not found: '${inputs.pool}'`);

    term.line("Scanning for tool capabilities.");
    const systemCapabilities = scanCapabilities({
      files,
      agentName: inputs.agentName,
      version,
      secrets: settings.secrets(),
    });

    term.line("Connecting to the server.");
    const existing = await server.findAgent(pool.id, inputs.agentName);
    let agent;
    if (existing) {
      term.line(`Pool ${pool.name} already contains an agent with name ${inputs.agentName}.`);
      if (!inputs.replace) {
        throw new ConfigError(`Pool ${pool.id} already contains an agent with name ${inputs.agentName}.`);
      }
      agent = await server.replaceAgent(pool.id, {
        ...existing,
        authorization: { ...existing.authorization, publicKey },
        version,
        osDescription: osDescription(),
        systemCapabilities: { ...existing.systemCapabilities, ...systemCapabilities },
      });
      term.line("Successfully replaced the agent");
    } else {
      agent = await server.addAgent(pool.id, {
        name: inputs.agentName,
        version,
        osDescription: osDescription(),
        maxParallelism: 1,
        provisioningState: "Provisioned",
        authorization: { publicKey },
        systemCapabilities,
      });
      term.line("Successfully added the agent");
    }

    const credentials = saveCredentials(files, agent, inputs.token);
    term.line("Testing agent connection.");
    if (credentials.scheme === "OAuth")
      await requestAccessToken(loadPrivateKey(files), http, credentials.data);

    // Only now `.agent` exists (§2 step 13): a failure above leaves a registered agent without it.
    files.writeJson(".agent", {
      agentId: agent.id,
      agentName: agent.name,
      poolId: pool.id,
      poolName: pool.name,
      serverUrl: serverUrlOf(agent, inputs.url),
      workFolder: inputs.work,
    });
    if (inputs.proxy) saveProxy(files, inputs.proxy);
    term.line(`${Terminal.stamp()}: Settings Saved.`);
    return 0;
  } catch (error) {
    term.error(error instanceof ConfigError ? error.message : `Error: ${error.message}`);
    return 1;
  }
}

/** §2 step 10: properties.ServerUrl from the answer, else the URL given, with a trailing slash. */
function serverUrlOf(agent, inputUrl) {
  const property = agent?.properties?.ServerUrl;
  const fromServer = typeof property === "string" ? property : property?.$value;
  const url = fromServer || inputUrl;
  return url.endsWith("/") ? url : `${url}/`;
}

function saveProxy(files, proxy) {
  files.writeText(".proxy", proxy.url);
  if (proxy.username) {
    files.writeText(
      ".proxycredentials",
      JSON.stringify({ username: proxy.username, password: proxy.password ?? "" }),
      0o600,
    );
  }
}
