import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { PAT, POOL, startWorld, type World } from "../helpers/world.ts";

/** `anka-azdo pool serve` as a user runs it: the pool YAML, secrets by ${ENV}, exit codes. */
const BIN = path.join(import.meta.dirname, "..", "..", "bin", "anka-azdo.mjs");
let world: World;
let home: string;

before(async () => {
  home = mkdtempSync(path.join(tmpdir(), "anka-cli-pool-"));
  world = await startWorld();
});
after(async () => {
  await world.close();
  rmSync(home, { recursive: true, force: true });
});

async function serve(config: string, classes: string[]): Promise<{ code: number | null; output: string }> {
  const file = path.join(home, "pool.yml");
  writeFileSync(file, config.replace("CLASSES", classes.join("\n")));
  return cli(["pool", "serve", "--config", file, "--once"]);
}

/** A pool service file for both emulators; CLASSES is replaced by the classes' lines. */
function poolFile(poolSettings: string[] = []): string {
  return [
    "controller:",
    `  url: ${world.controller.url}`,
    "azureDevOps:",
    `  url: ${world.azdo.url}`,
    "  token: ${AZP_TOKEN}",
    `  pool: ${POOL}`,
    ...poolSettings,
    "classes:",
    "CLASSES",
    "",
  ].join("\n");
}

/** The CLI with the PAT in the environment only, as the pool service gets it. */
async function cli(args: string[]): Promise<{ code: number | null; output: string; stdout: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: home, AZP_TOKEN: PAT },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  assert.ok(!output.includes(PAT), "the PAT never shows");
  return { code, output, stdout };
}

test("pool serve --once: a pass registers each class's placeholder and removes it with the class; a bad config exits 2", async () => {
  const config = poolFile();
  const sonoma = ["  - name: sonoma", "    template: sonoma-14", "    max: 1"];
  const sequoia = ["  - name: sequoia", "    template: sequoia-15", "    max: 1"];

  const first = await serve(config, [...sonoma, ...sequoia]);
  assert.equal(first.code, 0, first.output);
  const names = () =>
    world.azdo
      .agents(POOL)
      .map((agent) => agent.name)
      .sort();
  assert.deepEqual(names(), ["anka-placeholder-sequoia", "anka-placeholder-sonoma"]);
  assert.ok(world.azdo.agents(POOL).every((agent) => agent.status === "offline"));

  const second = await serve(config, sonoma);
  assert.equal(second.code, 0, second.output);
  assert.deepEqual(names(), ["anka-placeholder-sonoma"]);
  assert.equal(world.controller.liveInstances(), 0, "no job queued: no VM started");

  const bad = await serve("controller: {}\n", []);
  assert.equal(bad.code, 2, bad.output);
  assert.match(bad.output, /azureDevOps|controller\.url/);
});

test("a pool file is the CLI's --config: list shows that pool's VMs, terminate removes one", async () => {
  const config = poolFile(["pollSeconds: 5", "maxVms: 2", "http: { port: 0 }", "logLevel: warn"]);
  const started = await serve(config, ["  - { name: warm, template: sonoma-14, max: 1, standby: 1 }"]);
  assert.equal(started.code, 0, started.output);
  const live = () =>
    world.controller
      .instances()
      .filter((instance) => !/^Terminat/.test(instance.instance_state))
      .map((instance) => instance.instance_id);
  const [vm] = live();
  assert.ok(vm, "the standby class started a VM");

  const file = path.join(home, "pool.yml");
  const listed = await cli(["list", "--json", "--config", file]);
  assert.equal(listed.code, 0, listed.output);
  const rows = (JSON.parse(listed.stdout) as { instances: { instanceId: string; pool?: string }[] })
    .instances;
  assert.deepEqual(
    rows.map((row) => [row.instanceId, row.pool]),
    [[vm, POOL]],
  );

  const terminated = await cli(["terminate", "--instance-id", vm, "--config", file]);
  assert.equal(terminated.code, 0, terminated.output);
  assert.deepEqual(live(), []);
});
