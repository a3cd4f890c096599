// Job requests beyond one page (facts 16, 28): the emulator answers at most 200 per call and names the
// next page in X-MS-ContinuationToken; the client follows the pages up to a bound, with a warning; the
// pool service serves a job that only the second page shows.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startAzureDevOpsEmulator, type AzureDevOpsEmulator } from "../../emulator/azdo/index.ts";
import { AzureDevOpsClient } from "../../src/azdo/index.ts";
import { serveOneClassPool } from "../helpers/one-class-pool.ts";
import { EMULATOR_PATS } from "../helpers/secrets.ts";
import { POOL, startWorld, type World } from "../helpers/world.ts";

const ANKA = { id: 10, name: "Anka" };

describe("job request pages", () => {
  const pat = EMULATOR_PATS.manageAll;
  let emulator: AzureDevOpsEmulator;
  before(async () => {
    emulator = await startAzureDevOpsEmulator({ tokens: [{ token: pat, manage: true }] });
    for (let n = 0; n < 450; n++) emulator.queueJob("Anka", ["nobody-has-this"], { name: `job ${n}` });
  });
  after(() => emulator.close());

  const page = async (query: string) => {
    const response = await fetch(`${emulator.url}/_apis/distributedtask/pools/10/jobrequests?${query}`, {
      headers: { authorization: `Basic ${Buffer.from(`:${pat}`).toString("base64")}` },
    });
    const body = (await response.json()) as {
      count: number;
      value: { requestId: number }[];
      message?: string;
    };
    return { status: response.status, body, token: response.headers.get("x-ms-continuationtoken") };
  };

  test("the emulator caps $top at 200 and pages with an opaque token taken back as continuationToken", async () => {
    const first = await page("$top=1000");
    assert.equal(first.body.count, 200);
    assert.ok(first.token, "a next page");
    assert.equal("matchedAgents" in first.body.value[0]!, false, "the paged form carries no matchedAgents");
    const second = await page(`$top=200&continuationToken=${encodeURIComponent(first.token!)}`);
    const third = await page(`$top=200&continuationToken=${encodeURIComponent(second.token!)}`);
    assert.deepEqual([second.body.count, third.body.count, third.token], [200, 50, null]);
    const ids = [...first.body.value, ...second.body.value, ...third.body.value].map((r) => r.requestId);
    assert.equal(new Set(ids).size, 450, "no request twice, none lost");
    assert.equal((await page("$top=0")).body.count, 200, "0 and negative become 200");
    const bad = await page("$top=200&continuationToken=not-ours");
    assert.equal(bad.status, 400);
    assert.match(bad.body.message ?? "", /continuation token 'not-ours' is not valid/);
  });

  test("the client follows every page, and stops with a warning at its bound", async () => {
    const warnings: string[] = [];
    const all = new AzureDevOpsClient({ organizationUrl: emulator.url, pat });
    const bounded = new AzureDevOpsClient({
      organizationUrl: emulator.url,
      pat,
      maxJobRequestPages: 2,
      onWarning: (message) => warnings.push(message),
    });
    try {
      assert.equal((await all.listJobRequests(ANKA)).length, 450);
      assert.equal((await bounded.listJobRequests(ANKA)).length, 400);
      assert.deepEqual(warnings, [
        'Pool "Anka" has more than 400 job requests; read only the first 2 pages. Jobs beyond them are seen once earlier ones finish.',
      ]);
    } finally {
      all.close();
      bounded.close();
    }
  });
});

describe("the pool service and a queue longer than one page", () => {
  let world: World;
  before(async () => (world = await startWorld({ azdo: { offlineAfterMs: 10_000 } })));
  after(() => world.close());

  test("210 jobs nobody serves, then one for the class: the job on the second page is served", async () => {
    for (let n = 0; n < 210; n++) world.azdo.queueJob(POOL, ["some-other-tool"], { name: `other ${n}` });
    const job = world.azdo.queueJob(POOL, ["anka-class -equals sonoma"], { durationMs: 100, name: "ours" });
    const service = await serveOneClassPool(world);
    try {
      const deadline = Date.now() + 60_000;
      while (world.azdo.job(job.requestId)?.result === undefined && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(world.azdo.job(job.requestId)?.result, "succeeded", service.logs.join("\n"));
      const pages = world.azdo.requests.filter(
        (r) => r.path.endsWith("/jobrequests") && r.query.continuationToken !== undefined,
      );
      assert.ok(pages.length > 0, "the service read a second page");
      while (world.leftovers().instances > 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(world.leftovers().instances, 0);
    } finally {
      await service.stop();
    }
  });
});
