// Killing a whole process group: the shell a script runs in and everything it started in the
// background (`nohup ./run.sh --once &` stays in the shell's group), as when the VM goes away.
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const POLL_MS = 25;

/**
 * Process state letters of the group's members, from /proc (Linux); undefined where there is no /proc.
 * Needed because a killed background process whose parent shell is gone waits as a zombie until
 * init reaps it, and kill(-pgid, 0) still reports it.
 */
function memberStates(pgid: number): string[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const states: string[] = [];
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) state ppid pgrp ...": comm may contain spaces, so parse after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) states.push(fields[0] ?? "");
    } catch {
      // exited meanwhile
    }
  }
  return states;
}

/** True while any process of the group exists and is not a zombie. */
export function groupAlive(pgid: number): boolean {
  const states = memberStates(pgid);
  if (states) return states.some((state) => state !== "Z" && state !== "X");
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    // EPERM: the group exists but belongs to someone else; treat as alive.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM, then SIGKILL to whatever is left after `graceMs`; resolves when the group is gone. */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(POLL_MS);
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, "SIGKILL");
  for (let tries = 0; tries < 40 && groupAlive(pgid); tries++) await sleep(POLL_MS);
}
