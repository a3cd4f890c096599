// The folders of one sandboxed VM: `home` stands in for /Users/anka, `shims` holds the `sudo` and
// the `sh` the script finds first on PATH. That `sh` is the shell the script runs in, as on macOS,
// where /bin/sh is the same shell wherever it is called from.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SUDO_SHIM = fileURLToPath(new URL("./sudo-shim.mjs", import.meta.url));
export const VM_USER = "anka";

export interface VmFolder {
  root: string;
  home: string;
  shims: string;
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export async function createVmFolder(
  parent: string,
  instanceId: string,
  shell: readonly string[],
): Promise<VmFolder> {
  const root = path.join(parent, instanceId.replace(/[^A-Za-z0-9._-]/g, "_"));
  const folder = { root, home: path.join(root, "home"), shims: path.join(root, "shims") };
  await mkdir(folder.home, { recursive: true });
  await mkdir(folder.shims, { recursive: true });
  const config = path.join(folder.shims, "sudo.json");
  await writeFile(config, JSON.stringify({ home: folder.home, user: VM_USER }));
  const sudo = path.join(folder.shims, "sudo");
  await writeFile(
    sudo,
    `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(SUDO_SHIM)} ${shellQuote(config)} "$@"\n`,
  );
  await chmod(sudo, 0o755);
  const sh = path.join(folder.shims, "sh");
  await writeFile(sh, `#!/bin/sh\nexec ${shell.map(shellQuote).join(" ")} "$@"\n`);
  await chmod(sh, 0o755);
  return folder;
}
