// Public types of the controller emulator: its options, hooks and fault rules.
import type { IncomingHttpHeaders } from "node:http";
import type { EmulatorSeed } from "./seed.ts";

/** Durations of each phase of an instance's life, in milliseconds. */
export interface Timing {
  /** From the start request until the instance may take a node slot. */
  schedulingMs: number;
  /** Whole template pull on a node that lacks the template+tag. */
  pullMs: number;
  /** Number of `progress` increments during a pull. */
  pullSteps: number;
  /** From slot assignment (or end of pull) until `vminfo` appears. */
  bootMs: number;
  /** How long `vminfo.ip` stays "" after boot. */
  ipDelayMs: number;
  /** How long an instance stays `Terminating`. */
  terminatingMs: number;
  /** How long a `Terminated` instance stays listed (ANKA_INSTANCE_TIME_OUT, reference §4.3). */
  terminatedRetentionMs: number;
}

export interface ScriptContext {
  instanceId: string;
  /** The decoded startup script, as the node agent feeds it to `anka run <vm> sh`. */
  script: string;
  externalId?: string;
  /** "" when the script runs before the network is up (startup_script_condition 1). */
  vmIp: string;
  timeoutSec: number;
  /** Fires when the VM is killed (DELETE, emulator close) or the script times out. */
  signal: AbortSignal;
}

export interface ScriptOutcome {
  return_code: number;
  did_timeout: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a decoded startup script; a later piece runs it for real in a sandbox. */
export type ScriptRunner = (ctx: ScriptContext) => Promise<ScriptOutcome>;

/** Faults answered at the HTTP level, before or instead of the real handler. */
export const HTTP_FAULT_KINDS = [
  "status",
  "html",
  "malformed",
  "empty",
  "delay",
  "reset",
  "reset-after-handling",
] as const;
/** Faults that change how instances and nodes behave. */
export const STATE_FAULT_KINDS = ["instance-error", "stuck-node", "stuck-scheduling"] as const;

export type HttpFaultKind = (typeof HTTP_FAULT_KINDS)[number];
export type StateFaultKind = (typeof STATE_FAULT_KINDS)[number];
export type FaultKind = HttpFaultKind | StateFaultKind;

export interface FaultRule {
  kind: FaultKind;
  /** HTTP faults only: match this method (any when absent). */
  method?: string;
  /** HTTP faults only: match this exact path, e.g. /api/v1/vm (any when absent). */
  path?: string;
  /** How many requests/instances the rule affects; default 1. `Infinity` or `always` for no limit. */
  times?: number;
  always?: boolean;
  /** HTTP code for "status" (default 503), "html" (default 502) and "empty" (default 200). */
  status?: number;
  /** "delay": how long to wait before handling; default 1000. */
  delayMs?: number;
  /** "status": raw response text instead of a FAIL envelope. */
  body?: string;
  /** "status": envelope message; "instance-error": the instance's error message. */
  message?: string;
  /** "instance-error", "stuck-scheduling": only instances with this external_id. */
  externalId?: string;
  /** "stuck-node": only this node (all nodes when absent). */
  nodeId?: string;
}

/**
 * Authentication as the controller configures it (reference §7). Any auth feature needs the root
 * token, as on the controller (ANKA_ROOT_TOKEN is mandatory for all of them).
 */
export interface EmulatorAuthOptions {
  /** ANKA_ENABLE_AUTH + ANKA_ROOT_TOKEN (at least 10 characters): Basic `root:<token>`, or `:<token>` (§7.2). */
  rootToken?: string;
  /** ANKA_ENABLE_API_KEYS: /api/v1/apikey and the UAK handshake under /tap/v1 (§7.4). */
  apiKeys?: boolean;
  /** ANKA_API_KEYS_SESSION_TTL in milliseconds; default 300000 (§7.4 step 5). */
  sessionTtlMs?: number;
  /** How long a handshake secret may be shaken; default 10000 (the shorter of the documented windows, §7.4 step 3). */
  handshakeSecretTtlMs?: number;
  /** Certificate authentication (§7.3): needs `tls` with `ca`; the subject's O= is the group. */
  clientCertificates?: boolean;
}

/** Serve HTTPS. PEM texts. */
export interface EmulatorTlsOptions {
  cert: string;
  key: string;
  /** The CA client certificates must be signed by (ANKA_CA_CERT). */
  ca?: string;
}

/** Who a request proved to be. */
export interface AuthIdentity {
  method: "root token" | "certificate" | "uak";
  /** "root", the certificate's CN, or the UAK id. */
  user: string;
  /** The certificate's O= (its permission group). */
  group?: string;
  /** The UAK's groups. */
  groups?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** As received, except Authorization, which keeps only its scheme ("Basic", "Bearer"). */
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON (a UAK handshake `secret` shown as "[redacted]"), the raw text otherwise, undefined when empty. */
  body: unknown;
  /** Epoch milliseconds from the emulator's clock. */
  time: number;
  /** The HTTP fault applied to this request, if any. */
  fault?: HttpFaultKind;
  /** With auth enabled: the identity the request proved; absent when it proved none. */
  auth?: AuthIdentity;
}

export interface ControllerEmulatorOptions {
  host?: string;
  port?: number;
  seed?: EmulatorSeed;
  timing?: Partial<Timing>;
  scriptRunner?: ScriptRunner;
  /** HTTP code sent with FAIL "Not found": unknown in the reference (§4.3, §12.1). */
  notFoundHttpStatus?: 404 | 200;
  /** Accept numeric strings for int fields; the real controller's behaviour is unknown (§3, §13). */
  lenientNumbers?: boolean;
  faults?: FaultRule[];
  /** Epoch milliseconds; drives timestamps only, never the phase timers. */
  now?: () => number;
  /** Authentication; off when absent (reference §7.1). */
  auth?: EmulatorAuthOptions;
  /** Serve HTTPS with this certificate; required for `auth.clientCertificates`. */
  tls?: EmulatorTlsOptions;
  /**
   * The controller release to behave like, e.g. "1.50.1" (default) or "1.44.0": see versions.ts
   * for what changes (Pulling then Scheduling, errored vminfo, progress, messages, node ids).
   * Without it, the seed's `controller.version` decides.
   */
  controllerVersion?: string;
}
