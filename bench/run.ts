/**
 * `npm run bench`: measures, prints a report and writes bench/results.json. A benchmark, not a
 * test: it asserts nothing, it reports figures against the targets the issues set.
 */
import { writeFileSync } from "node:fs";
import { concurrentCycles, waiterLatency } from "./controller.ts";
import { taskFigures } from "./tasks.ts";

const results: Record<string, unknown> = {
  measuredAt: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, node ${process.version}`,
};

console.log("Controller client: 200 concurrent start / Started / terminate cycles, 20 node slots");
const cycles = await concurrentCycles(200, 20, 100);
console.table(cycles);
results.concurrentCycles = { ...cycles, targetErrors: 0 };

console.log("Waiter: detection latency and request rate (poll interval 1000 ms, 40 instances on 4 slots)");
const waiter = await waiterLatency(40, 1000);
console.table({ ...waiter, detectionLatencyMs: JSON.stringify(waiter.detectionLatencyMs) });
results.waiter = {
  ...waiter,
  targets: {
    medianLatencyAtMostMs: waiter.pollIntervalMs,
    requestsPerWaitedMinuteAtMost: waiter.budgetPerWaitedMinute,
  },
};

console.log("Tasks: vsix and bundle sizes, cold start (node start to first HTTP request, 15 runs each)");
const tasks = await taskFigures(15);
console.log(JSON.stringify(tasks, null, 2));
results.tasks = { ...tasks, targets: { vsixKiBAtMost: 1536, coldStartMedianMsAtMost: 150 } };

writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log("wrote bench/results.json");
