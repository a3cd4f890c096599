import { connectionFrom } from "../config/connection.ts";
import {
  holdsEnvironmentReference,
  mappingAt,
  parseConfigDocument,
  readConfigDocument,
  type ConfigDocument,
  type Environment,
} from "../config/document.ts";
import { ConfigError } from "../config/errors.ts";
import { poolKeysUnder } from "../config/schema.ts";
import type { ConnectionConfig } from "../core/index.ts";
import type { RetryPolicy } from "../net/retry.ts";
import { localClock, peakStandby, WEEKDAYS, type StandbySetting } from "./standby.ts";

/**
 * The pool service's configuration (contract §6): one YAML file in the shared schema
 * (src/config/schema.ts) plus the pool's own sections, secrets only as `${ENV_VAR}` references.
 * Every mistake is reported with the key it is about and what to write instead.
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
  /** Idle VMs kept warm, waiting for a job: a count, or time windows with a count each (standby.ts). */
  standby: StandbySetting;
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

/** Service hooks (POST /hooks): each call only triggers a pass; basic authentication with a secret. */
export interface PoolHooksConfig {
  username: string;
  password: string;
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
  hooks?: PoolHooksConfig;
  /** IANA time zone of standby windows; default UTC. */
  timeZone: string;
  logLevel: PoolLogLevel;
  classes: PoolClassConfig[];
}

export { ConfigError as PoolConfigError, type Environment };

/** Reads, substitutes `${ENV_VAR}` references, validates. Files named in it are read relative to it. */
export function loadPoolConfig(file: string, env: Environment): PoolConfig {
  return poolConfigFrom(readConfigDocument(file, env, "pool service config"), env);
}

/** `source` names the file in messages and anchors relative file paths (its folder). */
export function parsePoolConfig(text: string, env: Environment, source = "pool.yml"): PoolConfig {
  return poolConfigFrom(parseConfigDocument(text, env, source), env);
}

const HTTP_KEYS = poolKeysUnder("http.");
const HOOKS_KEYS = poolKeysUnder("hooks.");
/** Keys of one standby window (documented with classes[].standby). */
const WINDOW_KEYS = ["days", "from", "to", "count"];
const CLASS_KEYS = poolKeysUnder("classes[].");

const POOL_RETRY_POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };

/** Class names become capability values and agent names: `anka-<class>-<8 hex>`. */
const CLASS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;

/** The shared sections as the CLI reads them (src/config), then the pool's own, checked here. */
function poolConfigFrom(document: ConfigDocument, env: Environment): PoolConfig {
  // A service's file is shared and versioned: secrets come from the environment only.
  for (const key of document.literalSecrets)
    document.fail(
      key,
      "is a secret and must be an environment variable reference such as ${AZP_TOKEN}, not the value itself.",
    );
  const connection: ConnectionConfig = {
    ...connectionFrom({
      values: document.values,
      sources: Object.fromEntries(Object.keys(document.values).map((key) => [key, "file"])),
      cwd: document.folder,
      configFile: document.source,
      env: env as NodeJS.ProcessEnv,
      needsAzureDevOps: true,
      missing: (spec) => `${document.source}: ${spec.file} is required.`,
    }),
    // The loop retries every pass anyway: a request gives up after a few quick tries, so that an
    // outage is noticed (and backed off from) within seconds.
    retry: POOL_RETRY_POLICY,
  };
  return new Reader(document).config(connection);
}

class Reader {
  constructor(private readonly document: ConfigDocument) {}

  config(connection: ConnectionConfig): PoolConfig {
    const root = this.document.root;
    const classes = this.classes(this.required(root, "classes", ""));
    const maxSum = classes.reduce((sum, c) => sum + c.max, 0);
    const maxVms =
      root.maxVms === undefined ? maxSum : this.number(root.maxVms, "maxVms", { min: 1, integer: true });
    const standbySum = classes.reduce((sum, c) => sum + peakStandby(c.standby), 0);
    if (standbySum > maxVms) {
      this.fail(
        "maxVms",
        `is ${maxVms}, but the classes' standby VMs add up to ${standbySum}. Raise maxVms or lower standby.`,
      );
    }
    const pollSeconds =
      root.pollSeconds === undefined ? 10 : this.number(root.pollSeconds, "pollSeconds", { min: 0.05 });
    return {
      source: this.document.source,
      connection,
      pool: connection.agent.pool,
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
      ...(root.hooks === undefined ? {} : { hooks: this.hooks(root.hooks, root.http !== undefined) }),
      timeZone: this.timeZone(root.timeZone),
      logLevel: this.logLevel(root.logLevel),
      classes,
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
      const standby = this.standby(entry.standby, `${at}.standby`);
      if (peakStandby(standby) > max)
        this.fail(
          `${at}.standby`,
          `asks for ${peakStandby(standby)} warm VMs, more than max (${max}). Lower it to ${max} or less.`,
        );
      const capabilities = this.capabilities(entry.capabilities, `${at}.capabilities`);
      const optionalInteger = (key: string, min: number, max?: number) =>
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

  private standby(value: unknown, key: string): StandbySetting {
    if (value === undefined) return 0;
    if (!Array.isArray(value)) return this.number(value, key, { min: 0, integer: true });
    return value.map((item, index) => {
      const at = `${key}[${index}]`;
      const window = this.mapping(item, at, WINDOW_KEYS);
      const days = window.days === undefined ? [...WEEKDAYS] : window.days;
      if (!Array.isArray(days) || days.length === 0)
        this.fail(`${at}.days`, `must be a list of days out of ${WEEKDAYS.join(", ")}.`);
      const minute = (name: "from" | "to") => {
        const text = this.text(this.required(window, name, at), `${at}.${name}`);
        const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(text);
        if (!match) this.fail(`${at}.${name}`, `is "${text}"; write a time of day as HH:MM, e.g. 08:00.`);
        return Number(match[1]) * 60 + Number(match[2]);
      };
      return {
        days: days.map((day) => {
          const known = WEEKDAYS.find((d) => d === String(day).toLowerCase().slice(0, 3));
          if (!known) this.fail(`${at}.days`, `has "${String(day)}"; use ${WEEKDAYS.join(", ")}.`);
          return known;
        }),
        fromMinute: minute("from"),
        toMinute: minute("to"),
        count: this.number(this.required(window, "count", at), `${at}.count`, { min: 0, integer: true }),
      };
    });
  }

  private timeZone(value: unknown): string {
    if (value === undefined) return "UTC";
    const zone = this.text(value, "timeZone");
    try {
      localClock(zone);
    } catch {
      this.fail("timeZone", `is "${zone}", which is not an IANA time zone; write e.g. Europe/Paris or UTC.`);
    }
    return zone;
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

  private hooks(value: unknown, served: boolean): PoolHooksConfig {
    const hooks = this.mapping(value, "hooks", HOOKS_KEYS);
    if (!served)
      this.fail("hooks", "needs http (the endpoint is POST /hooks on that server); add http: { port: ... }.");
    const password = this.required(hooks, "password", "hooks");
    if (!holdsEnvironmentReference(password))
      this.fail(
        "hooks.password",
        "is a secret and must be an environment variable reference such as ${POOL_HOOKS_PASSWORD}.",
      );
    const text = this.text(password, "hooks.password");
    if (text.length < 16)
      this.fail("hooks.password", "is shorter than 16 characters; use a long random secret.");
    return { username: this.optionalText(hooks.username, "hooks.username") ?? "anka-pool", password: text };
  }

  private logLevel(value: unknown): PoolLogLevel {
    if (value === undefined) return "info";
    const level = this.text(value, "logLevel");
    if (level !== "debug" && level !== "info" && level !== "warn")
      this.fail("logLevel", `is "${level}"; use debug, info or warn.`);
    return level;
  }

  // ---- typed readers ----

  private mapping(value: unknown, key: string, known: readonly string[]): Partial<Record<string, unknown>> {
    return mappingAt(this.document, value, key, known);
  }

  private required(map: Partial<Record<string, unknown>>, name: string, parent: string): unknown {
    const value = map[name];
    if (value === undefined || value === null || value === "")
      this.fail(parent ? `${parent}.${name}` : name, "is required.");
    return value;
  }

  private text(value: unknown, key: string): string {
    const text = this.document.text(value, key);
    if (text === "") this.fail(key, "is empty.");
    return text;
  }

  private optionalText(value: unknown, key: string): string | undefined {
    return value === undefined || value === null || value === "" ? undefined : this.text(value, key);
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

  private fail(key: string, problem: string): never {
    return this.document.fail(key, problem);
  }
}
