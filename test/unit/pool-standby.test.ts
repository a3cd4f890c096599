import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePoolConfig } from "../../src/pool/config.ts";
import { planPass } from "../../src/pool/plan.ts";
import { localClock, standbyAt } from "../../src/pool/standby.ts";

const ENV = { AZP_TOKEN: "pat-from-env" };
const CONFIG = `
controller: { url: https://anka.example.com:8090 }
azureDevOps: { url: https://dev.azure.com/contoso, token: \${AZP_TOKEN}, pool: macOS }
timeZone: Europe/Paris
classes:
  - name: sonoma
    template: sonoma-14
    max: 6
    standby:
      - { days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", count: 4 }
      - { days: [fri], from: "22:00", to: "02:00", count: 1 }
`;

test("standby windows, read in the config's time zone: the working day keeps 4 warm, a late Friday window 1, nights and weekends none", () => {
  const config = parsePoolConfig(CONFIG, ENV, "pool.yml");
  assert.equal(config.timeZone, "Europe/Paris");
  const setting = config.classes[0]?.standby ?? 0;
  const paris = localClock(config.timeZone);
  const at = (iso: string) => standbyAt(setting, paris(Date.parse(iso)));
  // Winter: Paris is UTC+1.
  assert.equal(at("2026-12-07T06:59:00Z"), 0, "Monday 07:59 in Paris");
  assert.equal(at("2026-12-07T07:00:00Z"), 4, "Monday 08:00 in Paris");
  assert.equal(at("2026-12-07T17:59:00Z"), 4, "Monday 18:59 in Paris");
  assert.equal(at("2026-12-07T18:00:00Z"), 0, "Monday 19:00 in Paris");
  assert.equal(at("2026-12-11T21:30:00Z"), 1, "Friday 22:30 in Paris");
  assert.equal(at("2026-12-12T00:30:00Z"), 1, "Saturday 01:30 in Paris, the Friday window past midnight");
  assert.equal(at("2026-12-12T01:00:00Z"), 0, "Saturday 02:00 in Paris");
  assert.equal(at("2026-12-12T10:00:00Z"), 0, "Saturday late morning");
  // Summer time moves the window with the clock on the wall, not with UTC.
  assert.equal(at("2026-07-06T06:00:00Z"), 4, "Monday 08:00 in Paris in July is 06:00 UTC");
});

test("the planner keeps the schedule's count warm and starts nothing for standby outside its windows", () => {
  const config = parsePoolConfig(CONFIG, ENV, "pool.yml");
  const entry = config.classes[0];
  assert.ok(entry);
  const plan = (iso: string) =>
    planPass({
      now: Date.parse(iso),
      classes: [
        {
          config: entry,
          capabilities: { "anka-class": "sonoma" },
          ready: true,
          blocked: false,
          standby: standbyAt(entry.standby, localClock(config.timeZone)(Date.parse(iso))),
        },
      ],
      vms: [],
      agents: [],
      jobs: [],
      pending: new Map(),
      maxVms: config.maxVms,
      startTimeoutMs: 60_000,
      agentTimeoutMs: 60_000,
    }).starts;
  assert.deepEqual(plan("2026-12-07T09:00:00Z"), [{ className: "sonoma", count: 4 }]);
  assert.deepEqual(plan("2026-12-06T09:00:00Z"), [], "Sunday");
});

test("standby mistakes name the key and the fix", () => {
  const bad = (standby: string, pattern: RegExp, extra = "") =>
    assert.throws(
      () =>
        parsePoolConfig(
          `${CONFIG.split("timeZone")[0]}${extra}classes:\n  - { name: s, template: t, max: 6, standby: ${standby} }\n`,
          ENV,
          "pool.yml",
        ),
      pattern,
    );
  bad(
    `[{ from: "8:00", to: "25:00", count: 1 }]`,
    /classes\[0\]\.standby\[0\]\.to is "25:00"; write a time of day as HH:MM/,
  );
  bad(`[{ days: [funday], from: "08:00", to: "09:00", count: 1 }]`, /standby\[0\]\.days has "funday"/);
  bad(`[{ from: "08:00", to: "09:00", count: 9 }]`, /standby asks for 9 warm VMs, more than max \(6\)/);
  bad(`[{ from: "08:00", to: "09:00" }]`, /standby\[0\]\.count/);
  bad("2", /timeZone is "Mars\/Olympus", which is not an IANA time zone/, "timeZone: Mars/Olympus\n");
});
