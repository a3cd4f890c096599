// Anka Build Cloud Controller emulator: a real HTTP server on loopback that follows the reference
// documents (anka-controller-api.md, startup-scripts-and-job-requests.md Part A).
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createAdminRouter } from "./admin-routes.ts";
import { createApiRouter } from "./api-routes.ts";
import type { InstanceObject } from "./api-shapes.ts";
import { createAuthentication } from "./authentication.ts";
import { FaultBook } from "./faults.ts";
import { InstanceFleet } from "./fleet.ts";
import { Registry } from "./registry.ts";
import { loadDefaultSeed } from "./seed.ts";
import { createRequestPipeline } from "./server.ts";
import { succeedSilently } from "./startup-script.ts";
import { FAST_TIMING } from "./timing.ts";
import type { TapSession } from "./tap.ts";
import type { ControllerEmulatorOptions, FaultRule, RecordedRequest } from "./types.ts";
import { controllerBehaviour, statusVersion, withEc2NodeIds } from "./versions.ts";

export type * from "./api-shapes.ts";
export type * from "./seed.ts";
export type { TapSession } from "./tap.ts";
export type * from "./types.ts";
export { HTTP_FAULT_KINDS, STATE_FAULT_KINDS } from "./types.ts";
export { DEMO_TIMING, FAST_TIMING } from "./timing.ts";
export { loadDefaultSeed, parseSeed } from "./seed.ts";
export { DEFAULT_CONTROLLER_VERSION, OLDER_CONTROLLER_VERSION, controllerBehaviour } from "./versions.ts";
export type { ControllerBehaviour } from "./versions.ts";

/** An instance as GET /api/v1/vm?id= shows it. */
export type EmulatedInstanceView = InstanceObject;

export interface ControllerEmulator {
  /** http://127.0.0.1:PORT, or https:// with `tls`. */
  url: string;
  /** Every API request received (admin requests excluded), oldest first. */
  requests: RecordedRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Listed instances (Terminating/Terminated included until they vanish), as the API shows them. */
  instances(): ReadonlyArray<EmulatedInstanceView>;
  /** Instances neither Terminating nor Terminated. */
  liveInstances(): number;
  /** Live UAK sessions (with auth.apiKeys), e.g. to check that no token leaks into logs. */
  uakSessions(): TapSession[];
  /** Stops the server, every phase timer and every running startup script. */
  close(): Promise<void>;
}

export async function startControllerEmulator(
  options: ControllerEmulatorOptions = {},
): Promise<ControllerEmulator> {
  // The emulator mutates its seed (pulls, last_pull): never the caller's copy.
  const seed = structuredClone(options.seed ?? loadDefaultSeed());
  // The option wins; otherwise the seed's status version (a seed file is the emulator's config file).
  const behaviour = controllerBehaviour(options.controllerVersion ?? seed.controller.version.split("-")[0]);
  seed.controller.version = statusVersion(behaviour, seed.controller.version);
  if (behaviour.ec2NodeIds) seed.nodes = withEc2NodeIds(seed.nodes);
  const nowMs = options.now ?? Date.now;
  const faults = new FaultBook();
  for (const rule of options.faults ?? []) faults.add(rule);
  const registry = new Registry(seed.templates, nowMs);
  const fleet = new InstanceFleet({
    seed,
    timing: { ...FAST_TIMING, ...options.timing },
    registry,
    faults,
    scriptRunner: options.scriptRunner ?? succeedSilently,
    nowMs,
    behaviour,
  });
  const requests: RecordedRequest[] = [];
  // Credentials expire in real time: options.now drives displayed timestamps only.
  const authentication = createAuthentication(options.auth, options.tls, Date.now);
  const pipeline = createRequestPipeline({
    api: createApiRouter({
      fleet,
      registry,
      seed,
      notFoundHttpStatus: options.notFoundHttpStatus ?? 404,
      lenientNumbers: options.lenientNumbers ?? false,
      nowMs,
      extraRoutes: authentication.routes,
    }),
    admin: createAdminRouter({ faults, fleet, requests }),
    faults,
    requests,
    nowMs,
    gate: authentication.gate,
  });

  const server = options.tls
    ? createHttpsServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ca: options.tls.ca,
          // reference §7.3: a missing or untrusted client certificate gets the controller's 401
          // envelope, not a TLS alert, so the handshake must complete and the gate decides.
          requestCert: options.auth?.clientCertificates ?? false,
          rejectUnauthorized: false,
        },
        pipeline.listener,
      )
    : createServer(pipeline.listener);
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `${options.tls ? "https" : "http"}://${host}:${address.port}`,
    requests,
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    instances: () => fleet.views(),
    liveInstances: () => fleet.liveCount(),
    uakSessions: () => authentication.tap?.sessions() ?? [],
    close: async () => {
      pipeline.dispose();
      fleet.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
