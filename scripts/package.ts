/**
 * `npm run package`: bundles each agent task into one JS file (esbuild) beside its task.json, icon
 * and the resources task-lib loads at run time, then packs the extension with tfx-cli into
 * exactly one dist/*.vsix. Fails on any tfx warning: they become errors in later tfx versions.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tasksSource = path.join(root, "src", "tasks");
/** The extension's layout, staged as it is inside the vsix: tfx validates tasks at their final paths. */
const defaultBuildDir = path.join(root, "build", "extension");
const defaultDistDir = path.join(root, "dist");
const taskLib = path.join(root, "node_modules", "azure-pipelines-task-lib");

/**
 * Task folders are named <TaskName>V<major> (azure-pipelines-tasks layout). Agent tasks have a
 * main.ts that is bundled; agentless (server) tasks are a task.json and an icon only.
 */
export function agentTaskFolders(): { folder: string; name: string }[] {
  return readdirSync(tasksSource)
    .filter((entry) => /V\d+$/.test(entry) && existsSync(path.join(tasksSource, entry, "task.json")))
    .map((folder) => ({ folder, name: folder.replace(/V\d+$/, "") }));
}

export async function bundleTasks(buildDir = defaultBuildDir): Promise<string[]> {
  rmSync(buildDir, { recursive: true, force: true });
  const outputs: string[] = [];
  for (const { folder, name } of agentTaskFolders()) {
    const out = path.join(buildDir, "tasks", name, folder);
    mkdirSync(out, { recursive: true });
    const entry = path.join(tasksSource, folder, "main.ts");
    if (existsSync(entry)) {
      await build({
        entryPoints: [entry],
        outfile: path.join(out, "index.js"),
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        minify: true,
        sourcemap: false,
        legalComments: "external",
        logLevel: "warning",
      });
      // task-lib reads lib.json (and localized strings) from beside the running script.
      cpSync(path.join(taskLib, "lib.json"), path.join(out, "lib.json"));
      cpSync(path.join(taskLib, "Strings"), path.join(out, "Strings"), { recursive: true });
    }
    for (const file of ["task.json", "icon.png"]) {
      const source = path.join(tasksSource, folder, file);
      if (existsSync(source)) cpSync(source, path.join(out, file));
    }
    outputs.push(out);
  }
  return outputs;
}

/**
 * The Marketplace overview lives in docs/marketplace.md, where its pictures are ../images/… for
 * readers of the repository; in the vsix it is overview.md beside images/, the layout Marketplace
 * overviews use (content.details.path in vss-extension.json).
 */
export function marketplaceOverview(): string {
  return readFileSync(path.join(root, "docs", "marketplace.md"), "utf8").replaceAll(
    "](../images/",
    "](images/",
  );
}

export function packVsix(buildDir = defaultBuildDir, distDir = defaultDistDir): string {
  for (const item of ["vss-extension.json", "images", "LICENSE"]) {
    cpSync(path.join(root, item), path.join(buildDir, item), { recursive: true });
  }
  writeFileSync(path.join(buildDir, "overview.md"), marketplaceOverview());
  rmSync(distDir, { recursive: true, force: true });
  mkdirSync(distDir, { recursive: true });
  const tfx = path.join(root, "node_modules", ".bin", "tfx");
  const output = execFileSync(
    tfx,
    [
      "extension",
      "create",
      "--root",
      buildDir,
      "--manifests",
      "vss-extension.json",
      "--output-path",
      distDir,
      "--no-prompt",
      "--no-color",
    ],
    { cwd: buildDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  if (/warn/i.test(output)) throw new Error(`tfx printed warnings; fix them:\n${output}`);
  const vsix = readdirSync(distDir).filter((file) => file.endsWith(".vsix"));
  if (vsix.length !== 1) throw new Error(`expected exactly one .vsix in dist/, found ${vsix.length}`);
  return path.join(distDir, vsix[0] as string);
}

/**
 * Packs the extension into a fresh folder and unzips the vsix there, as Azure DevOps installs it:
 * tests, the benchmark and the demo run the tasks from exactly what users get.
 */
export async function packAndInstall(): Promise<{ work: string; vsix: string; installed: string }> {
  const work = mkdtempSync(path.join(tmpdir(), "anka-extension-"));
  const staged = path.join(work, "staged");
  await bundleTasks(staged);
  const vsix = packVsix(staged, path.join(work, "dist"));
  const installed = path.join(work, "installed");
  execFileSync("unzip", ["-q", vsix, "-d", installed]);
  return { work, vsix, installed };
}

/** The folder of an agent task inside an installed extension. */
export function installedTaskFolder(installed: string, name: string, major = 1): string {
  return path.join(installed, "tasks", name, `${name}V${major}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bundles = await bundleTasks();
  for (const dir of bundles) {
    const bundle = path.join(dir, "index.js");
    console.log(
      existsSync(bundle)
        ? `bundled ${path.relative(root, dir)}/index.js (${Math.round(statSync(bundle).size / 1024)} KiB)`
        : `copied ${path.relative(root, dir)} (agentless task: task.json only)`,
    );
  }
  const vsix = packVsix();
  console.log(`packed ${path.relative(root, vsix)} (${Math.round(statSync(vsix).size / 1024)} KiB)`);
}
