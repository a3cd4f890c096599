// A light stand-in for the sandbox, for runs with many VMs on a small machine (the fault matrix, the
// load benchmark). The sandbox runs the startup script in a real shell: curl downloads the stand-in
// agent, tar unpacks it, config.sh and run.sh start node processes, two per VM. This runner reads
// the values from the rendered built-in script's assignments instead, and does what the script does
// in this process: registers anka-<identifier> with its capabilities and the PAT (the stand-in
// agent's own REST calls), or for a pre-registered agent writes the three files it got, then runs the stand-in agent's listener (`run.sh --once`) in-process.
// Skipped: the shell, the download and the processes. Kept: everything Azure DevOps sees.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_AGENT_VERSION } from "./azdo/index.ts";
import type { ScriptContext, ScriptOutcome, ScriptRunner } from "./controller/index.ts";

export interface LightScriptRunner extends ScriptRunner {
  /** How many in-process listeners still run. */
  listeners(): number;
  /** Stops every listener and deletes the agent folders. */
  cleanup(): Promise<void>;
}

/** The assignments at the top of a rendered startup script: `NAME='value'` lines in a brace group. */
export function startupScriptAssignments(script: string): Record<string, string> {
  const start = script.indexOf("\n{\n");
  if (start < 0) throw new Error("no assignment group in the startup script");
  const values: Record<string, string> = {};
  let at = start + 3;
  for (;;) {
    const line = /^ {2}([A-Za-z_][A-Za-z0-9_]*)=/.exec(script.slice(at, at + 200));
    if (!line) break;
    at += line[0].length;
    let value = "";
    // A word of single-quoted parts and backslash-escaped characters, up to the end of the line.
    while (at < script.length && script[at] !== "\n") {
      if (script[at] === "'") {
        const end = script.indexOf("'", at + 1);
        if (end < 0) throw new Error(`unterminated quote in ${line[1]}`);
        value += script.slice(at + 1, end);
        at = end + 1;
      } else if (script[at] === "\\") {
        value += script[at + 1] ?? "";
        at += 2;
      } else {
        throw new Error(`unexpected ${JSON.stringify(script[at])} in the value of ${line[1]}`);
      }
    }
    values[line[1] as string] = value;
    at++;
  }
  return values;
}

interface StandInModules {
  AgentFiles: new (root: string) => {
    writeJson(name: string, value: unknown): void;
    writeText(name: string, text: string, mode?: number): void;
  };
  AgentServer: new (
    http: unknown,
    serverUrl: string,
    authorize: () => Promise<string>,
  ) => {
    findPool(name: string): Promise<{ id: number; name: string } | undefined>;
    findAgent(poolId: number, name: string): Promise<Record<string, unknown> | undefined>;
    addAgent(poolId: number, agent: unknown): Promise<Record<string, unknown>>;
    replaceAgent(poolId: number, agent: unknown): Promise<Record<string, unknown>>;
  };
  HttpClient: new (options: { userAgent: string; proxy?: unknown }) => unknown;
  basicPat(token: string): string;
  saveCredentials(files: unknown, agent: unknown, pat: string): unknown;
  run(context: Record<string, unknown>): Promise<number>;
}

const BIN = new URL("./agent-package/layout/bin/", import.meta.url);
let modules: Promise<StandInModules> | undefined;
function standInAgent(): Promise<StandInModules> {
  const load = async (name: string) => (await import(new URL(name, BIN).href)) as Record<string, unknown>;
  modules ??= Promise.all(
    ["agent-files.mjs", "agent-server.mjs", "http.mjs", "credentials.mjs", "listener.mjs"].map(load),
  ).then((parts) => Object.assign({}, ...parts) as StandInModules);
  return modules;
}

/** One RSA key for every agent of the runner: 200 key generations would take seconds of CPU. */
function sharedKey(): { params: string; publicKey: { exponent: string; modulus: string } } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const b64 = (value: string | undefined) => Buffer.from(value ?? "", "base64url").toString("base64");
  const params = {
    d: b64(jwk.d),
    dp: b64(jwk.dp),
    dq: b64(jwk.dq),
    exponent: b64(jwk.e),
    inverseQ: b64(jwk.qi),
    modulus: b64(jwk.n),
    p: b64(jwk.p),
    q: b64(jwk.q),
  };
  return {
    params: JSON.stringify(params),
    publicKey: { exponent: params.exponent, modulus: params.modulus },
  };
}

const outcome = (return_code: number, stdout: string, stderr = ""): ScriptOutcome => ({
  return_code,
  did_timeout: false,
  stdout,
  stderr,
});

const quietTerminal = { line: () => {}, section: () => {}, error: () => {}, addSecret: () => {} };

export function lightScriptRunner(options: { version?: string } = {}): LightScriptRunner {
  const version = options.version ?? DEFAULT_AGENT_VERSION;
  const parent = mkdtempSync(path.join(os.tmpdir(), "anka-light-vms-"));
  const running = new Map<string, { stop: AbortController; done: Promise<unknown> }>();
  let key: ReturnType<typeof sharedKey> | undefined;

  const runner = async (ctx: ScriptContext): Promise<ScriptOutcome> => {
    let values: Record<string, string>;
    try {
      // A custom script may do anything: only the built-in one's effect is known.
      if (ctx.script.includes("\n# ---- custom startup script ----\n")) throw new Error("a custom script");
      values = startupScriptAssignments(ctx.script);
    } catch (error) {
      return outcome(127, "", `light runner: not a built-in startup script (${(error as Error).message})\n`);
    }
    const { ANKA_AZP_URL: url, ANKA_AZP_POOL: poolName, ANKA_AZP_AGENT_NAME: agentName } = values;
    const token = values.ANKA_AZP_TOKEN;
    const preregistered = values.ANKA_AZP_REGISTRATION === "preregistered";
    if (
      !url ||
      !poolName ||
      !agentName ||
      (!token && !preregistered) ||
      values.ANKA_AZP_CAPABILITIES === undefined
    )
      return outcome(127, "", "light runner: the startup script lacks a value it needs\n");
    const said = `anka-startup: registering agent ${agentName} in pool ${poolName}\n`;
    const stand = await standInAgent();
    const folder = mkdtempSync(path.join(parent, `${ctx.instanceId.slice(0, 8)}-`));
    const files = new stand.AgentFiles(folder);
    const makeHttp = () => new stand.HttpClient({ userAgent: `VstsAgentCore-osx-arm64/${version} (light)` });
    const server = new stand.AgentServer(makeHttp(), url, async () => stand.basicPat(token ?? ""));
    try {
      if (preregistered) {
        // The script's write_agent_files: the three files as the task rendered them, behind the BOM.
        files.writeText(".env", values.ANKA_AZP_CAPABILITIES);
        files.writeText(".agent", `\uFEFF${values.ANKA_AZP_AGENT_SETTINGS ?? ""}`);
        files.writeText(".credentials", `\uFEFF${values.ANKA_AZP_AGENT_CREDENTIALS ?? ""}`);
        files.writeText(".credentials_rsaparams", `\uFEFF${values.ANKA_AZP_AGENT_KEY ?? ""}`, 0o600);
        return startListener(ctx, stand, files, makeHttp, said);
      }
      key ??= sharedKey();
      const pool = await server.findPool(poolName);
      if (!pool) throw new Error(`Agent pool not found: '${poolName}'`);
      const capabilities = Object.fromEntries(
        values.ANKA_AZP_CAPABILITIES.split("\n")
          .filter((line) => line.indexOf("=") > 0)
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
      files.writeText(
        ".capabilities",
        Object.entries(capabilities)
          .map(([name, value]) => `${name}=${value}`)
          .join("\n"),
      );
      files.writeText(".credentials_rsaparams", key.params, 0o600);
      const systemCapabilities = { ...capabilities, "Agent.Name": agentName, "Agent.Version": version };
      const existing = await server.findAgent(pool.id, agentName);
      const agent = existing
        ? await server.replaceAgent(pool.id, {
            ...existing,
            authorization: { ...(existing.authorization as object), publicKey: key.publicKey },
            systemCapabilities,
          })
        : await server.addAgent(pool.id, {
            name: agentName,
            version,
            osDescription: "Darwin 23.6.0 (light runner)",
            maxParallelism: 1,
            provisioningState: "Provisioned",
            authorization: { publicKey: key.publicKey },
            systemCapabilities,
          });
      stand.saveCredentials(files, agent, token ?? "");
      files.writeJson(".agent", {
        agentId: agent.id,
        agentName: agent.name,
        poolId: pool.id,
        poolName: pool.name,
        serverUrl: `${url.replace(/\/+$/, "")}/`,
        workFolder: path.join(folder, "_work"),
      });
    } catch (error) {
      return outcome(
        6,
        said,
        `anka-startup: configure failed: could not register agent ${agentName} in pool ${poolName} at ${url}: ${(error as Error).message}\n`,
      );
    }
    return startListener(ctx, stand, files, makeHttp, said);
  };

  const startListener = (
    ctx: ScriptContext,
    stand: StandInModules,
    files: InstanceType<StandInModules["AgentFiles"]>,
    makeHttp: () => unknown,
    said: string,
  ): ScriptOutcome => {
    if (ctx.signal.aborted) return outcome(-1, said);
    // run.sh --once, in the background: it outlives the script, and the VM's death ends it.
    const stop = new AbortController();
    ctx.signal.addEventListener("abort", () => stop.abort(), { once: true });
    const done = stand
      .run({
        files,
        settings: { flag: (name: string) => name === "once", arg: () => undefined, secrets: () => [] },
        version,
        makeHttp,
        term: quietTerminal,
        proxy: undefined,
        stop: stop.signal,
      })
      .catch(() => 1)
      .finally(() => running.delete(ctx.instanceId));
    running.set(ctx.instanceId, { stop, done });
    return outcome(0, `${said}anka-startup: agent configured and started\n`);
  };

  return Object.assign(runner, {
    listeners: () => running.size,
    async cleanup() {
      const all = [...running.values()];
      for (const { stop } of all) stop.abort();
      await Promise.all(all.map(({ done }) => done));
      rmSync(parent, { recursive: true, force: true });
    },
  });
}
