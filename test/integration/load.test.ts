import assert from "node:assert/strict";
import { test } from "node:test";
import { loadFigures } from "../../bench/load.ts";
import { PAT } from "../helpers/secrets.ts";

/**
 * The load benchmark (bench/load.ts) in small: 30 pipelines at once on 6 node slots, each Start, a
 * build job on its VM's agent, Terminate. Two VMs run the real startup script, the others the light
 * runner. Every pipeline finishes and nothing is left; the queued instances back off.
 */
test("30 pipelines at once on 6 slots: all finish, no instance and no agent left", async () => {
  const began = Date.now();
  const figures = await loadFigures({
    pipelines: 30,
    slots: 6,
    realAgents: 2,
    pollIntervalMs: 200,
    backoff: { afterMs: 2_400, maxIntervalMs: 1_200 },
    jobMs: 300,
    pat: PAT,
  });
  console.log(JSON.stringify(figures));
  assert.deepEqual(figures.firstErrors, []);
  assert.equal(figures.finished, 30);
  assert.equal(figures.realAgents, 2);
  assert.equal(figures.leakedInstances, 0);
  assert.equal(figures.leakedAgents, 0);
  // Most instances waited for a slot, and polled less than every 200 ms meanwhile.
  assert.ok(figures.queued.instances >= 15, `queued: ${figures.queued.instances}`);
  assert.ok(
    figures.queued.requestsPerSecondPerInstance < 5,
    `${figures.queued.requestsPerSecondPerInstance}/s`,
  );
  assert.ok(Date.now() - began < 30_000);
});
