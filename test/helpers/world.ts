import { rmSync } from "node:fs";
import { installedTaskFolder, packAndInstall } from "../../scripts/package.ts";
import { startWorld as startEmulatedWorld, type World, type WorldOptions } from "../../emulator/world.ts";
import { PAT, READ_ONLY_PAT } from "./secrets.ts";

/** The tests' world: both emulators, a PAT full of shell metacharacters, and a read-only PAT. */
export type { World };
export { PAT, READ_ONLY_PAT };
export const POOL = "Anka";

export function startWorld(options: Omit<WorldOptions, "pat"> = {}): Promise<World> {
  return startEmulatedWorld({ pat: PAT, readOnlyPats: [READ_ONLY_PAT], pool: POOL, ...options });
}

/** Packs the extension once per test process (test files run in parallel, each in its own folder). */
let installed: Promise<string> | undefined;
export async function taskFolder(
  name: "AnkaStartInstance" | "AnkaTerminateInstance" | "AnkaCleanup",
): Promise<string> {
  installed ??= packAndInstall().then(({ work, installed }) => {
    process.on("exit", () => rmSync(work, { recursive: true, force: true }));
    return installed;
  });
  return installedTaskFolder(await installed, name);
}
