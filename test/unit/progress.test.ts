import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instance } from "../../src/anka/index.ts";
import { StartProgressReporter } from "../../src/core/progress.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

const at = (state: string, progress = 0, extra: Partial<Instance> = {}): Instance => ({
  id: "i",
  state,
  templateId: "t",
  progress,
  ...extra,
});

test("pull progress: at most one line per 10% or per minute; one line per state change", () => {
  const lines: string[] = [];
  const clock = new FakeClock();
  const reporter = new StartProgressReporter(
    { info: (l) => lines.push(l), warn: () => {}, debug: () => {} },
    clock,
  );
  reporter.report(at("Scheduling"));
  reporter.report(at("Scheduling"));
  for (const progress of [0.01, 0.02, 0.05, 0.11, 0.12, 0.19, 0.2, 0.21])
    reporter.report(at("Pulling", progress));
  clock.advance(61_000);
  reporter.report(at("Pulling", 0.22));
  reporter.report(at("Pulling", 0.23));
  reporter.report(at("Scheduling"));
  reporter.report(at("Started", 0, { nodeId: "n1", vminfo: { ip: "10.0.0.9", portForwarding: [] } }));
  assert.deepEqual(lines, [
    "Instance i is Scheduling: waiting for a node with a free slot",
    "Instance i is Pulling the template to the node: 1%",
    "Pulling the template to the node: 11%",
    "Pulling the template to the node: 20%",
    "Pulling the template to the node: 22%",
    "Instance i is Scheduling: booting the VM and running the startup script",
    "Instance i is Started on node n1 (VM IP 10.0.0.9)",
  ]);
});
