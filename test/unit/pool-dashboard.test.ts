import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { createPoolMetrics } from "../../src/pool/metrics.ts";

const DASHBOARD = path.join(import.meta.dirname, "..", "..", "deploy", "grafana", "anka-pool-dashboard.json");

test("the Grafana dashboard in deploy/ queries only metrics the service exports, and shows every one of them", async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const queried = new Set(
    dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((target) =>
        [...target.expr.matchAll(/\banka_pool_[a-z_]+/g)].map((m) =>
          m[0].replace(/_(bucket|count|sum)$/, ""),
        ),
      ),
    ),
  );
  const metrics = await createPoolMetrics();
  const exported = new Set(
    [...(await metrics.render()).matchAll(/^# TYPE (anka_pool_[a-z_]+) /gm)].map((m) => m[1] as string),
  );
  assert.deepEqual(
    [...queried].filter((name) => !exported.has(name)),
    [],
    "queried but not exported",
  );
  assert.deepEqual(
    [...exported].filter((name) => !queried.has(name)),
    [],
    "exported but on no panel",
  );
});
