// Anka Build Cloud Controller emulator: a real HTTP server on loopback that follows the reference
// documents (anka-controller-api.md, startup-scripts-and-job-requests.md Part A).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdminRouter } from "./admin-routes.ts";
import { createApiRouter } from "./api-routes.ts";
import type { InstanceObject } from "./api-shapes.ts";
import { FaultBook } from "./faults.ts";
import { InstanceFleet } from "./fleet.ts";
import { Registry } from "./registry.ts";
import { loadDefaultSeed } from "./seed.ts";
import { createRequestPipeline } from "./server.ts";
import { succeedSilently } from "./startup-script.ts";
import { FAST_TIMING } from "./timing.ts";
import type { ControllerEmulatorOptions, FaultRule, RecordedRequest } from "./types.ts";

export type * from "./api-shapes.ts";
export type * from "./seed.ts";
export type * from "./types.ts";
export { HTTP_FAULT_KINDS, STATE_FAULT_KINDS } from "./types.ts";
export { DEMO_TIMING, FAST_TIMING } from "./timing.ts";
export { loadDefaultSeed, parseSeed } from "./seed.ts";

/** An instance as GET /api/v1/vm?id= shows it. */
export type EmulatedInstanceView = InstanceObject;

export interface ControllerEmulator {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every API request received (admin requests excluded), oldest first. */
  requests: RecordedRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Listed instances (Terminating/Terminated included until they vanish), as the API shows them. */
  instances(): ReadonlyArray<EmulatedInstanceView>;
  /** Instances neither Terminating nor Terminated. */
  liveInstances(): number;
  /** Stops the server, every phase timer and every running startup script. */
  close(): Promise<void>;
}

export async function startControllerEmulator(
  options: ControllerEmulatorOptions = {},
): Promise<ControllerEmulator> {
  // The emulator mutates its seed (pulls, last_pull): never the caller's copy.
  const seed = structuredClone(options.seed ?? loadDefaultSeed());
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
  });
  const requests: RecordedRequest[] = [];
  const pipeline = createRequestPipeline({
    api: createApiRouter({
      fleet,
      registry,
      seed,
      notFoundHttpStatus: options.notFoundHttpStatus ?? 404,
      lenientNumbers: options.lenientNumbers ?? false,
      nowMs,
    }),
    admin: createAdminRouter({ faults, fleet, requests }),
    faults,
    requests,
    nowMs,
  });

  const server = createServer(pipeline.listener);
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    requests,
    addFault: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    instances: () => fleet.views(),
    liveInstances: () => fleet.liveCount(),
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
