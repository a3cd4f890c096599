/**
 * Controller client figures (issue 2): many concurrent start/Started/terminate cycles against the
 * emulator, and how quickly and how cheaply the waiter notices Started.
 */
import { AnkaClient, waitForInstance, type Instance } from "../src/anka/index.ts";
import { loadDefaultSeed, startControllerEmulator, type EmulatorSeed } from "../emulator/controller/index.ts";
import { median, percentile, round } from "./stats.ts";

const SONOMA = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c";

/** The default seed with `nodes` nodes of `slots` slots, all with the template cached. */
export function seedWithSlots(nodes: number, slots: number): EmulatorSeed {
  const seed = loadDefaultSeed();
  const model = seed.nodes[0];
  if (!model) throw new Error("the default seed has no node");
  seed.nodes = Array.from({ length: nodes }, (_, n) => ({
    ...model,
    node_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node_name: `bench-node-${n}`,
    capacity: slots,
    templates: seed.templates.flatMap((t) => t.versions.map((v) => ({ uuid: t.id, tag: v.tag }))),
  }));
  return seed;
}

export interface CycleFigures {
  cycles: number;
  nodeSlots: number;
  wallSeconds: number;
  errors: number;
  requests: number;
  requestsPerCycle: number;
  peakRequestsPerSecond: number;
  leftAlive: number;
}

export async function concurrentCycles(
  cycles: number,
  nodeSlots: number,
  pollIntervalMs: number,
): Promise<CycleFigures> {
  const emulator = await startControllerEmulator({
    seed: seedWithSlots(nodeSlots / 2, 2),
    timing: { bootMs: 100, schedulingMs: 20, terminatingMs: 20 },
  });
  const client = new AnkaClient({
    url: emulator.url,
    retry: { attempts: 5, baseDelayMs: 50, maxDelayMs: 1000 },
  });
  const started = Date.now();
  let errors = 0;
  await Promise.all(
    Array.from({ length: cycles }, async (_, n) => {
      try {
        const id = await client.startInstance({
          templateId: SONOMA,
          tag: "base",
          externalId: `bench-${n}`,
          scriptMonitoring: true,
          startupScript: "true",
        });
        await waitForInstance(client, id, {
          timeoutMs: 120_000,
          pollIntervalMs,
          maxPollIntervalMs: pollIntervalMs * 6,
        });
        await client.terminateInstance(id);
      } catch (error) {
        errors++;
        console.error(`cycle ${n}: ${(error as Error).message}`);
      }
    }),
  );
  const wallSeconds = (Date.now() - started) / 1000;
  const requests = emulator.requests.length;
  const figures = {
    cycles,
    nodeSlots,
    wallSeconds: round(wallSeconds, 2),
    errors,
    requests,
    requestsPerCycle: round(requests / cycles, 1),
    peakRequestsPerSecond: peakPerSecond(emulator.requests.map((r) => r.time)),
    leftAlive: emulator.liveInstances(),
  };
  client.close();
  await emulator.close();
  return figures;
}

export interface WaiterFigures {
  instances: number;
  pollIntervalMs: number;
  detectionLatencyMs: { median: number; p95: number; max: number };
  requestsPerWaitedMinutePerInstance: number;
  budgetPerWaitedMinute: number;
}

/**
 * Detection latency: from the moment the emulator records Started (the instance's `ts`) until the
 * waiter returns. Request rate: GETs of the instance per minute of waiting, per instance, with
 * more instances than slots so that some sit queued in Scheduling.
 */
export async function waiterLatency(instances: number, pollIntervalMs: number): Promise<WaiterFigures> {
  const emulator = await startControllerEmulator({
    seed: seedWithSlots(2, 2),
    // Phase lengths that are not multiples of the poll interval, so Started falls anywhere between two polls.
    timing: { schedulingMs: 310, bootMs: 1450, ipDelayMs: 133, terminatingMs: 50 },
  });
  const client = new AnkaClient({ url: emulator.url });
  const latencies: number[] = [];
  let waitedMs = 0;
  let polls = 0;
  await Promise.all(
    Array.from({ length: instances }, async (_, n) => {
      // Random arrival, so that Started falls anywhere between two polls rather than in step with them.
      await new Promise((r) => setTimeout(r, Math.random() * pollIntervalMs));
      const id = await client.startInstance({ templateId: SONOMA, tag: "base", externalId: `latency-${n}` });
      const from = Date.now();
      let count = 0;
      const ready: Instance = await waitForInstance(client, id, {
        timeoutMs: 120_000,
        pollIntervalMs,
        onPoll: () => count++,
      });
      const seen = Date.now();
      latencies.push(seen - Date.parse(ready.updatedAt ?? ""));
      waitedMs += seen - from;
      polls += count;
      // Hold the slot a moment, so later instances queue.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
      await client.terminateInstance(id);
    }),
  );
  client.close();
  await emulator.close();
  return {
    instances,
    pollIntervalMs,
    detectionLatencyMs: {
      median: round(median(latencies), 0),
      p95: round(percentile(latencies, 95), 0),
      max: Math.max(...latencies),
    },
    requestsPerWaitedMinutePerInstance: round(polls / (waitedMs / 60_000), 1),
    budgetPerWaitedMinute: round(60_000 / pollIntervalMs, 1),
  };
}

function peakPerSecond(times: number[]): number {
  const buckets = new Map<number, number>();
  for (const time of times)
    buckets.set(Math.floor(time / 1000), (buckets.get(Math.floor(time / 1000)) ?? 0) + 1);
  return Math.max(0, ...buckets.values());
}
