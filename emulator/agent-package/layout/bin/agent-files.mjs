// The files of a configured agent in its root folder (azure-pipelines-agent.md §2 "Files", §1 ".env"):
// `.agent`, `.credentials`, `.credentials_rsaparams`, `.proxy*`, `.env`, `.capabilities`.
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

export class AgentFiles {
  constructor(root) {
    this.root = root;
  }

  file(name) {
    return path.join(this.root, name);
  }

  exists(name) {
    return fs.existsSync(this.file(name));
  }

  readText(name) {
    return fs.readFileSync(this.file(name), "utf8");
  }

  /** The agent reads its JSON files with or without the UTF-8 BOM it writes itself. */
  readJson(name) {
    return JSON.parse(this.readText(name).replace(/^\uFEFF/, ""));
  }

  /** camelCase JSON behind a BOM; false/0/null/empty fields left out like the agent's serializer does. */
  writeJson(name, value, mode) {
    const compact = Object.fromEntries(
      Object.entries(value).filter(
        ([, entry]) =>
          entry !== undefined && entry !== null && entry !== false && entry !== 0 && entry !== "",
      ),
    );
    this.writeText(name, `\uFEFF${JSON.stringify(compact, null, 2)}`, mode);
  }

  writeText(name, text, mode) {
    const target = this.file(name);
    fs.writeFileSync(target, text, mode === undefined ? undefined : { mode });
    if (mode !== undefined) fs.chmodSync(target, mode);
  }

  remove(name) {
    fs.rmSync(this.file(name), { force: true });
  }

  /** `NAME=value` lines: split at the first `=` when it is past index 0; no trimming, quoting or comments. */
  readKeyValues(name) {
    if (!this.exists(name)) return [];
    const pairs = [];
    for (const line of fs.readFileSync(this.file(name), "utf8").split(/\r?\n/)) {
      const at = line.indexOf("=");
      if (at > 0) pairs.push([line.slice(0, at), line.slice(at + 1)]);
    }
    return pairs;
  }

  /** Every Agent.Listener start loads `.env` over the inherited environment (§1, Program.cs L123-138). */
  loadDotEnv(env = process.env) {
    for (const [name, value] of this.readKeyValues(".env")) env[name] = value;
  }
}
