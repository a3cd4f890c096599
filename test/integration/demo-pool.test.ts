import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

/** `npm run demo:pool` as a user runs it, with a smaller burst. */
const REPO = path.join(import.meta.dirname, "..", "..");

test("npm run demo:pool: placeholders, a burst over two classes served one VM per job, the status page URL while it runs, a summary with 0 left behind", async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/demo-pool.ts"],
        { cwd: REPO, env: { ...process.env, DEMO_POOL_JOBS: "6" }, timeout: 180_000 },
        (error, out, err) =>
          resolve({ code: error ? Number(error.code ?? 1) || 1 : 0, stdout: out, stderr: err }),
      );
    },
  );
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /open its status page at http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(stdout, /Placeholder agents registered/);
  assert.match(stdout, /Queued a burst of 6 jobs over both classes/);
  assert.match(stdout, /sonoma: \d+ queued, \d+ starting, [1-9]\d* busy/, "progress shows busy VMs");
  assert.match(stdout, /jobs: 6 of 6 succeeded, on 6 VMs/);
  assert.match(stdout, /queued to agent: median [\d.]+ s, p95 [\d.]+ s/);
  assert.match(stdout, /waste: 0 VMs without a job per 100 jobs/);
  assert.match(stdout, /left behind: 0 VMs, 0 agents/);
});
