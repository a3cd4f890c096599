import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import type { ConnectionConfig, ControllerAuth } from "../core/index.ts";
import { proxyFromEnvironment } from "../net/proxy.ts";
import type { RetryPolicy } from "../net/retry.ts";

/**
 * The pool service's configuration (contract §6): one YAML file, secrets only as `${ENV_VAR}`
 * references. Every mistake is reported with the key it is about and what to write instead.
 */

/** The capabilities a class's agents (and its placeholder) may advertise, and jobs demand. */
export const CLASS_CAPABILITIES = [
  "anka-class",
  "anka-template",
  "anka-template-id",
  "anka-template-tag",
] as const;
export type ClassCapability = (typeof CLASS_CAPABILITIES)[number];

export interface PoolClassConfig {
  name: string;
  /** Template name or UUID. */
  template: string;
  /** Absent: the template's latest tag, chosen by the controller at each start. */
  tag?: string;
  /** VMs of this class at most, whatever their state. */
  max: number;
  /** Idle VMs kept warm, waiting for a job. */
  standby: number;
  /** An idle VM older than this is recycled (and replaced while `standby` wants it). */
  idleMinutes: number;
  nodeGroup?: string;
  priority?: number;
  vcpu?: number;
  /** RAM in MB. */
  vram?: number;
  /** Which capabilities the class advertises; `anka-class` always. */
  capabilities: ClassCapability[];
}

export interface PoolHttpConfig {
  host: string;
  /** 0: any free port (tests). */
  port: number;
}

export type PoolLogLevel = "debug" | "info" | "warn";

export interface PoolConfig {
  /** The file it was read from, for messages. */
  source: string;
  /** Controller, TLS and authentication, the organization, the PAT and the agent settings. */
  connection: ConnectionConfig;
  pool: string;
  pollSeconds: number;
  /** VMs across all classes at most. */
  maxVms: number;
  /** From the start request until the instance is Started (pull and startup script included). */
  startTimeoutMinutes: number;
  /** How long an agent may stay unregistered after Started, or offline without having run its job. */
  agentTimeoutMinutes: number;
  /** `/healthz` and `/metrics`; absent: no HTTP server. */
  http?: PoolHttpConfig;
  logLevel: PoolLogLevel;
  classes: PoolClassConfig[];
}

export class PoolConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PoolConfigError";
  }
}

export type Environment = Record<string, string | undefined>;

/** Reads, substitutes `${ENV_VAR}` references, validates. Files named in it are read relative to it. */
export function loadPoolConfig(file: string, env: Environment): PoolConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new PoolConfigError(
      `Cannot read the pool service config ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. ` +
        "Pass an existing YAML file with --config (deploy/pool.example.yml is a starting point).",
    );
  }
  return parsePoolConfig(text, env, file);
}

/** `source` names the file in messages and anchors relative file paths (its folder). */
export function parsePoolConfig(text: string, env: Environment, source = "pool.yml"): PoolConfig {
  // `${VAR}` is not valid YAML inside a flow mapping (`auth: { rootToken: ${ANKA_ROOT_TOKEN} }`), and
  // substituting values into the text would let a secret's characters change the YAML. So each
  // reference becomes an inert token before parsing and its value is put in afterwards.
  const references: string[] = [];
  const prepared = text
    .replaceAll("$${", LITERAL_TOKEN)
    .replace(
      /\$\{([^}\n]*)\}/g,
      (_match, name: string) => `${REFERENCE_TOKEN}${references.push(name) - 1}__`,
    );
  const document = parseDocument(prepared, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    throw new PoolConfigError(`${source}: not valid YAML: ${first?.message ?? "parse error"}`);
  }
  const raw: unknown = document.toJS();
  const reader = new Reader(source, env, references, path.dirname(path.resolve(source)));
  return reader.config(raw);
}

const ROOT_KEYS = [
  "controller",
  "azureDevOps",
  "agent",
  "pollSeconds",
  "maxVms",
  "startTimeoutMinutes",
  "agentTimeoutMinutes",
  "http",
  "logLevel",
  "classes",
] as const;
const CONTROLLER_KEYS = ["url", "auth", "caCertificate", "skipTlsVerification"] as const;
const AZURE_DEVOPS_KEYS = ["url", "token", "pool"] as const;
const AGENT_KEYS = ["user", "path", "logPath", "proxyUrl", "downloadUrl", "startupScriptFile"] as const;
const HTTP_KEYS = ["host", "port"] as const;
const CLASS_KEYS = [
  "name",
  "template",
  "tag",
  "max",
  "standby",
  "idleMinutes",
  "nodeGroup",
  "priority",
  "vcpu",
  "vram",
  "capabilities",
] as const;
const AUTH_FORMS = ["rootToken", "certificate", "uak"] as const;

const POOL_RETRY_POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

/** Class names become capability values and agent names: `anka-<class>-<8 hex>`. */
const CLASS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;
const REFERENCE_TOKEN = "__ANKA_ENV_REFERENCE_";
const REFERENCE = /__ANKA_ENV_REFERENCE_(\d+)__/g;
const LITERAL_TOKEN = "__ANKA_ENV_LITERAL__";

type Mapping = Record<string, unknown>;

class Reader {
  constructor(
    private readonly source: string,
    private readonly env: Environment,
    private readonly references: readonly string[],
    private readonly folder: string,
  ) {}

  config(raw: unknown): PoolConfig {
    const root = this.mapping(raw, "", ROOT_KEYS, "the top level");
    const controller = this.mapping(this.required(root, "controller", ""), "controller", CONTROLLER_KEYS);
    const azureDevOps = this.mapping(
      this.required(root, "azureDevOps", ""),
      "azureDevOps",
      AZURE_DEVOPS_KEYS,
    );
    const agent = root.agent === undefined ? {} : this.mapping(root.agent, "agent", AGENT_KEYS);

    const controllerUrl = this.url(this.required(controller, "url", "controller"), "controller.url", [
      "https:",
      "http:",
    ]);
    const azureDevOpsUrl = this.url(this.required(azureDevOps, "url", "azureDevOps"), "azureDevOps.url", [
      "https:",
      "http:",
    ]);
    const token = this.secret(this.required(azureDevOps, "token", "azureDevOps"), "azureDevOps.token");
    const pool = this.text(this.required(azureDevOps, "pool", "azureDevOps"), "azureDevOps.pool");
    const caFile = this.optionalText(controller.caCertificate, "controller.caCertificate");
    const startupScriptFile = this.optionalText(agent.startupScriptFile, "agent.startupScriptFile");

    const connection: ConnectionConfig = {
      controllerUrl,
      auth: this.auth(controller.auth),
      ...(caFile ? { caCertificate: this.file(caFile, "controller.caCertificate") } : {}),
      ...(this.optionalBoolean(controller.skipTlsVerification, "controller.skipTlsVerification")
        ? { skipTlsVerification: true }
        : {}),
      proxyFor: proxyFromEnvironment(this.env as NodeJS.ProcessEnv),
      // The loop retries every pass anyway: a request gives up after a few quick tries, so that an
      // outage is noticed (and backed off from) within seconds.
      retry: POOL_RETRY_POLICY,
      agent: {
        pool,
        azureDevOpsUrl,
        pat: token,
        agentUser: this.optionalText(agent.user, "agent.user"),
        agentPath: this.optionalText(agent.path, "agent.path"),
        agentLogPath: this.optionalText(agent.logPath, "agent.logPath"),
        agentProxyUrl: this.optionalText(agent.proxyUrl, "agent.proxyUrl"),
        agentDownloadUrl: this.optionalText(agent.downloadUrl, "agent.downloadUrl"),
        ...(startupScriptFile
          ? { startupScript: this.file(startupScriptFile, "agent.startupScriptFile") }
          : {}),
      },
    };

    const classes = this.classes(this.required(root, "classes", ""));
    const maxSum = classes.reduce((sum, c) => sum + c.max, 0);
    const maxVms =
      root.maxVms === undefined ? maxSum : this.number(root.maxVms, "maxVms", { min: 1, integer: true });
    const standbySum = classes.reduce((sum, c) => sum + c.standby, 0);
    if (standbySum > maxVms) {
      this.fail(
        "maxVms",
        `is ${maxVms}, but the classes' standby VMs add up to ${standbySum}. Raise maxVms or lower standby.`,
      );
    }
    const pollSeconds =
      root.pollSeconds === undefined ? 10 : this.number(root.pollSeconds, "pollSeconds", { min: 0.05 });
    return {
      source: this.source,
      connection,
      pool,
      pollSeconds,
      maxVms,
      startTimeoutMinutes:
        root.startTimeoutMinutes === undefined
          ? 30
          : this.number(root.startTimeoutMinutes, "startTimeoutMinutes", { min: 0.001 }),
      agentTimeoutMinutes:
        root.agentTimeoutMinutes === undefined
          ? 10
          : this.number(root.agentTimeoutMinutes, "agentTimeoutMinutes", { min: 0.001 }),
      ...(root.http === undefined ? {} : { http: this.http(root.http) }),
      logLevel: this.logLevel(root.logLevel),
      classes,
    };
  }

  private auth(value: unknown): ControllerAuth {
    if (value === undefined || value === null || value === "none") return { kind: "none" };
    const form = this.mapping(value, "controller.auth", AUTH_FORMS);
    const given = AUTH_FORMS.filter((key) => form[key] !== undefined);
    if (given.length !== 1) {
      this.fail(
        "controller.auth",
        `must hold exactly one of rootToken, certificate or uak${given.length ? `; it has ${given.join(" and ")}` : ""}, ` +
          'e.g. "auth: { rootToken: ${ANKA_ROOT_TOKEN} }", or "auth: none" for a controller without authentication.',
      );
    }
    if (form.rootToken !== undefined) {
      return { kind: "rootToken", token: this.secret(form.rootToken, "controller.auth.rootToken") };
    }
    if (form.certificate !== undefined) {
      const key = "controller.auth.certificate";
      const cert = this.mapping(form.certificate, key, ["certificateFile", "keyFile"]);
      return {
        kind: "certificate",
        certificate: this.file(
          this.text(this.required(cert, "certificateFile", key), `${key}.certificateFile`),
          `${key}.certificateFile`,
        ),
        privateKey: this.file(
          this.text(this.required(cert, "keyFile", key), `${key}.keyFile`),
          `${key}.keyFile`,
        ),
      };
    }
    const key = "controller.auth.uak";
    const uak = this.mapping(form.uak, key, ["id", "privateKey", "keyFile"]);
    if ((uak.privateKey === undefined) === (uak.keyFile === undefined)) {
      this.fail(
        key,
        "needs exactly one of privateKey (e.g. ${ANKA_UAK_KEY}) or keyFile (a PEM file readable only by the service).",
      );
    }
    return {
      kind: "uak",
      id: this.text(this.required(uak, "id", key), `${key}.id`),
      privateKey:
        uak.privateKey !== undefined
          ? this.secret(uak.privateKey, `${key}.privateKey`)
          : this.file(this.text(uak.keyFile, `${key}.keyFile`), `${key}.keyFile`),
    };
  }

  private classes(value: unknown): PoolClassConfig[] {
    if (!Array.isArray(value) || value.length === 0) {
      this.fail(
        "classes",
        "must be a list with at least one class, e.g.\nclasses:\n  - { name: sonoma, template: sonoma-14, max: 4 }",
      );
    }
    const seen = new Map<string, string>();
    return value.map((item, index) => {
      const at = `classes[${index}]`;
      const entry = this.mapping(item, at, CLASS_KEYS);
      const name = this.text(this.required(entry, "name", at), `${at}.name`);
      if (!CLASS_NAME.test(name)) {
        this.fail(
          `${at}.name`,
          `"${name}" is not a usable class name: use 1-40 letters, digits, ".", "_" or "-", starting with a letter or digit (it becomes the anka-class capability and part of agent names).`,
        );
      }
      if (name.toLowerCase() === "placeholder")
        this.fail(
          `${at}.name`,
          '"placeholder" is reserved (placeholder agents are named anka-placeholder-<class>); pick another name.',
        );
      const clash = seen.get(name.toLowerCase());
      if (clash !== undefined)
        this.fail(`${at}.name`, `"${name}" is used twice (also ${clash}); class names must be unique.`);
      seen.set(name.toLowerCase(), at);
      const max = this.number(this.required(entry, "max", at), `${at}.max`, { min: 1, integer: true });
      const standby =
        entry.standby === undefined
          ? 0
          : this.number(entry.standby, `${at}.standby`, { min: 0, integer: true });
      if (standby > max)
        this.fail(`${at}.standby`, `is ${standby}, more than max (${max}). Lower it to ${max} or less.`);
      const capabilities = this.capabilities(entry.capabilities, `${at}.capabilities`);
      const optionalInteger = (key: (typeof CLASS_KEYS)[number], min: number, max?: number) =>
        entry[key] === undefined
          ? undefined
          : this.number(entry[key], `${at}.${key}`, { min, max, integer: true });
      const tag = this.optionalText(entry.tag, `${at}.tag`);
      const nodeGroup = this.optionalText(entry.nodeGroup, `${at}.nodeGroup`);
      const priority = optionalInteger("priority", 1, 10_000);
      const vcpu = optionalInteger("vcpu", 1);
      const vram = optionalInteger("vram", 1);
      return {
        name,
        template: this.text(this.required(entry, "template", at), `${at}.template`),
        ...(tag ? { tag } : {}),
        max,
        standby,
        idleMinutes:
          entry.idleMinutes === undefined
            ? 15
            : this.number(entry.idleMinutes, `${at}.idleMinutes`, { min: 0.001 }),
        ...(nodeGroup ? { nodeGroup } : {}),
        ...(priority !== undefined ? { priority } : {}),
        ...(vcpu !== undefined ? { vcpu } : {}),
        ...(vram !== undefined ? { vram } : {}),
        capabilities,
      };
    });
  }

  private capabilities(value: unknown, key: string): ClassCapability[] {
    if (value === undefined) return [...CLASS_CAPABILITIES];
    if (!Array.isArray(value))
      this.fail(key, `must be a list of capability names out of ${CLASS_CAPABILITIES.join(", ")}.`);
    const names = new Set<ClassCapability>(["anka-class"]);
    for (const item of value) {
      const name = CLASS_CAPABILITIES.find((known) => known === String(item).toLowerCase());
      if (!name)
        this.fail(key, `has "${String(item)}", which is not one of ${CLASS_CAPABILITIES.join(", ")}.`);
      names.add(name);
    }
    return CLASS_CAPABILITIES.filter((name) => names.has(name));
  }

  private http(value: unknown): PoolHttpConfig {
    const http = this.mapping(value, "http", HTTP_KEYS);
    return {
      host: this.optionalText(http.host, "http.host") ?? "127.0.0.1",
      port: this.number(this.required(http, "port", "http"), "http.port", {
        min: 0,
        max: 65_535,
        integer: true,
      }),
    };
  }

  private logLevel(value: unknown): PoolLogLevel {
    if (value === undefined) return "info";
    const level = this.text(value, "logLevel");
    if (level !== "debug" && level !== "info" && level !== "warn")
      this.fail("logLevel", `is "${level}"; use debug, info or warn.`);
    return level;
  }

  // ---- typed readers ----

  private mapping<K extends string>(
    value: unknown,
    key: string,
    known: readonly K[],
    where = key,
  ): Partial<Record<K, unknown>> {
    if (value === null || typeof value !== "object" || Array.isArray(value))
      this.fail(key, `must be a mapping (key: value lines)${key ? "" : " at the top of the file"}.`);
    for (const name of Object.keys(value)) {
      if (!(known as readonly string[]).includes(name)) {
        const hint = known.find((k) => k.toLowerCase() === name.toLowerCase());
        this.fail(
          key ? `${key}.${name}` : name,
          `is not a known key in ${where}${hint ? `: did you mean ${hint}?` : `. Known keys: ${known.join(", ")}.`}`,
        );
      }
    }
    return value as Partial<Record<K, unknown>>;
  }

  private required(map: Mapping, name: string, parent: string): unknown {
    const value = map[name];
    if (value === undefined || value === null || value === "")
      this.fail(parent ? `${parent}.${name}` : name, "is required.");
    return value;
  }

  /** A string with `${ENV_VAR}` references replaced; `$${` writes a literal `${`. */
  private text(value: unknown, key: string): string {
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    if (typeof value !== "string") this.fail(key, "must be a text value.");
    const substituted = value
      .replace(REFERENCE, (_match, index: string) => {
        const name = this.references[Number(index)] ?? "";
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
          this.fail(
            key,
            `has "\${${name}}", which is not an environment variable reference like \${AZP_TOKEN}.`,
          );
        const found = this.env[name];
        if (found === undefined || found === "")
          this.fail(
            key,
            `refers to the environment variable ${name}, which is not set. Export it before starting the service ` +
              "(systemd: EnvironmentFile=, launchd: EnvironmentVariables).",
          );
        return found;
      })
      .replaceAll(LITERAL_TOKEN, "${");
    const trimmed = substituted.trim();
    if (trimmed === "") this.fail(key, "is empty.");
    return trimmed;
  }

  private optionalText(value: unknown, key: string): string | undefined {
    return value === undefined || value === null || value === "" ? undefined : this.text(value, key);
  }

  /** Secrets come from the environment only, so that config files can be shared and committed. */
  private secret(value: unknown, key: string): string {
    if (typeof value !== "string" || !new RegExp(REFERENCE.source).test(value)) {
      this.fail(
        key,
        "is a secret and must be an environment variable reference such as ${AZP_TOKEN}, not the value itself.",
      );
    }
    return this.text(value, key);
  }

  private optionalBoolean(value: unknown, key: string): boolean {
    if (value === undefined || value === null) return false;
    if (typeof value !== "boolean") this.fail(key, "must be true or false.");
    return value;
  }

  private number(
    value: unknown,
    key: string,
    limits: { min: number; max?: number; integer?: boolean },
  ): number {
    const number = typeof value === "string" ? Number(this.text(value, key)) : value;
    const { min, max, integer } = limits;
    const what = integer ? "a whole number" : "a number";
    const range = max === undefined ? `${min} or more` : `from ${min} to ${max}`;
    if (
      typeof number !== "number" ||
      !Number.isFinite(number) ||
      (integer && !Number.isInteger(number)) ||
      number < min ||
      (max !== undefined && number > max)
    ) {
      this.fail(key, `must be ${what}, ${range}; got ${JSON.stringify(value)}.`);
    }
    return number;
  }

  private url(value: unknown, key: string, protocols: string[]): string {
    const text = this.text(value, key);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.fail(key, `"${text}" is not a URL; write it in full, e.g. https://anka.example.com:8090.`);
    }
    if (!protocols.includes(url.protocol)) this.fail(key, `"${text}" must start with https:// or http://.`);
    return text.replace(/\/+$/, "");
  }

  private file(name: string, key: string): string {
    const full = path.resolve(this.folder, name);
    try {
      return readFileSync(full, "utf8");
    } catch (error) {
      this.fail(
        key,
        `names ${full}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). ` +
          "Give an existing file; a relative path is taken from the config file's folder.",
      );
    }
  }

  private fail(key: string, problem: string): never {
    throw new PoolConfigError(`${this.source}: ${key ? `${key} ` : ""}${problem}`);
  }
}
