// Entry point of the stand-in Azure Pipelines agent (bin/Agent.Listener runs it). Like the real
// Agent.Listener it loads `.env` before anything else, parses the command line and VSTS_AGENT_INPUT_*
// variables, warns about unknown arguments and runs one of configure / remove / run (the default).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { AgentFiles } from "./agent-files.mjs";
import { CommandSettings } from "./args.mjs";
import { configure } from "./configure.mjs";
import { HttpClient } from "./http.mjs";
import { run } from "./listener.mjs";
import { remove } from "./remove.mjs";
import { Terminal } from "./terminal.mjs";

const binDir = path.dirname(fileURLToPath(import.meta.url));
const files = new AgentFiles(path.dirname(binDir));
const version = fs.readFileSync(path.join(binDir, "version"), "utf8").trim();
const term = new Terminal();

files.loadDotEnv();
const settings = new CommandSettings(process.argv.slice(2));

function savedProxy() {
  if (!files.exists(".proxy")) return undefined;
  const url = fs.readFileSync(files.file(".proxy"), "utf8").trim();
  const credentials = files.exists(".proxycredentials") ? files.readJson(".proxycredentials") : {};
  return { url, username: credentials.username, password: credentials.password };
}

const runtimeId = `${os.platform() === "darwin" ? "osx" : os.platform()}-${os.arch()}`;
const makeHttp = (proxy) =>
  new HttpClient({ userAgent: `VstsAgentCore-${runtimeId}/${version} (stand-in)`, proxy });

async function main() {
  if (settings.flag("version")) {
    term.line(version);
    return 0;
  }
  if (settings.flag("commit")) {
    term.line("stand-in");
    return 0;
  }
  if (settings.unknown.length > 0) {
    term.line(
      `Unrecognized command-line input arguments: '${settings.unknown.join(", ")}'. For usage refer to: .\\config.cmd --help or ./config.sh --help`,
    );
  }
  const context = { files, settings, version, makeHttp, term, proxy: savedProxy() };
  switch (settings.command ?? "run") {
    case "configure":
      return configure(context);
    case "remove":
      return remove(context);
    case "run":
      return run(context);
    default:
      term.error(`The stand-in agent does not implement '${settings.command}'.`);
      return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    term.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
