import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";
import { secretForms } from "./secrets.ts";

/**
 * Looking into a sandbox VM for a secret: its files, and the environments and argument lists of
 * its processes (Linux /proc), for the tests that prove a secret never reached the VM.
 */
const PAT_FORMS = secretForms().filter((form) => /^PAT\b/.test(form.label));

/** "<form> in <where>" for each form of the test PAT found in `text`. */
export function patFormsIn(where: string, text: string): string[] {
  return PAT_FORMS.filter((form) => text.includes(form.value)).map((form) => `${form.label} in ${where}`);
}

export function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

/** Environments and argument lists of the processes running in the VM (HOME is the VM's folder). */
export function vmProcesses(vmDir: string): { pid: string; environ: string; cmdline: string }[] {
  const processes = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
      const inVm =
        environ.split("\0").includes(`HOME=${vmDir}`) || readlinkSync(`/proc/${pid}/cwd`).startsWith(vmDir);
      if (inVm) processes.push({ pid, environ, cmdline: readFileSync(`/proc/${pid}/cmdline`, "latin1") });
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return processes;
}
