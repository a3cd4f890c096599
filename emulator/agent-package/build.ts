// Builds the stand-in agent tarball: the files under layout/ in the real package's layout (config.sh,
// run.sh, env.sh, bin/Agent.Listener at the archive root), plus bin/version and externals/node (a link
// to the Node.js running this build, standing in for the runtime the real agent bundles). Archives
// are cached under the OS temp dir by a hash of everything that goes in, so parallel test processes
// build it once; the final rename makes a half-written archive invisible.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

export const LAYOUT_DIR = fileURLToPath(new URL("./layout/", import.meta.url));

export interface AgentPackage {
  /** The .tar.gz file. */
  path: string;
  /** SHA-256 of the file, hex: the packages API's hashValue (azure-pipelines-agent.md §7). */
  sha256: string;
  size: number;
  version: string;
}

export interface BuildOptions {
  version: string;
  /** Default: <os.tmpdir()>/anka-azdo-agent-package */
  cacheDir?: string;
}

const EXECUTABLES = new Set(["config.sh", "run.sh", "env.sh", "bin/Agent.Listener"]);

interface LayoutFile {
  relative: string;
  mode: number;
  content: Buffer;
}

async function readLayout(dir = LAYOUT_DIR, prefix = ""): Promise<LayoutFile[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  const files: LayoutFile[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const relative = path.posix.join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await readLayout(full, relative)));
    else if (entry.isFile()) {
      // The entry points must be executable in the archive even from a checkout that lost the bit.
      const mode = EXECUTABLES.has(relative) ? 0o755 : (await stat(full)).mode & 0o777;
      files.push({ relative, mode, content: await readFile(full) });
    }
  }
  return files;
}

function contentHash(files: LayoutFile[], version: string, nodePath: string): string {
  const hash = createHash("sha256").update(`version=${version}\nnode=${nodePath}\n`);
  for (const file of files) hash.update(`${file.relative}\0${file.mode}\0`).update(file.content).update("\0");
  return hash.digest("hex").slice(0, 24);
}

async function sha256Of(file: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

export async function buildAgentPackage(options: BuildOptions): Promise<AgentPackage> {
  const files = await readLayout();
  const nodePath = process.execPath;
  const key = contentHash(files, options.version, nodePath);
  const cacheDir = options.cacheDir ?? path.join(os.tmpdir(), "anka-azdo-agent-package");
  const target = path.join(cacheDir, key, `vsts-agent-${options.version}.tar.gz`);

  if (!(await exists(target))) {
    await mkdir(path.dirname(target), { recursive: true });
    const staging = await mkdtemp(path.join(os.tmpdir(), "anka-azdo-agent-layout-"));
    try {
      for (const file of files) {
        const destination = path.join(staging, file.relative);
        await mkdir(path.dirname(destination), { recursive: true });
        await writeFile(destination, file.content);
        await chmod(destination, file.mode);
      }
      await writeFile(path.join(staging, "bin", "version"), `${options.version}\n`);
      await mkdir(path.join(staging, "externals", "node", "bin"), { recursive: true });
      await symlink(nodePath, path.join(staging, "externals", "node", "bin", "node"));
      const partial = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.partial`;
      await run("tar", ["-czf", partial, "-C", staging, "."]);
      await rename(partial, target);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const { size } = await stat(target);
  return { path: target, sha256: await sha256Of(target), size, version: options.version };
}

/** Unpacks a package into `dir` (created when missing), as the startup script does with `tar -xzf`. */
export async function unpackAgentPackage(tarball: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", dir]);
}
