// Command line: start the Azure DevOps emulator and print its organization URL.
//   node --import tsx emulator/azdo/main.ts --port 8081 --org contoso --pool Default --pool Anka \
//     --token "$PAT" --token "$READ_ONLY_PAT:read"
// A --token value "<pat>" may manage every pool; "<pat>:read" only reads; "<pat>:PoolA,PoolB" manages
// only the pools named. A --pool value may carry its id: "Anka=10". Jobs are queued through POST /_emulator/jobs (see admin.ts).
import process from "node:process";
import { parseArgs } from "node:util";
import { startAzureDevOpsEmulator } from "./index.ts";
import type { PoolConfig, TokenConfig } from "./types.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    org: { type: "string", default: "contoso" },
    pool: { type: "string", multiple: true },
    token: { type: "string", multiple: true },
    "agent-version": { type: "string" },
    "offline-after-ms": { type: "string" },
    "job-duration-ms": { type: "string" },
    "reject-unsatisfiable": { type: "boolean", default: false },
  },
});

function tokenConfig(text: string): TokenConfig {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return { token: text, manage: true };
  const rights = text.slice(colon + 1);
  const token = text.slice(0, colon);
  if (rights === "read") return { token, manage: false };
  if (rights === "manage") return { token, manage: true };
  return { token, manage: rights.split(",").filter(Boolean) };
}

const pools: PoolConfig[] | undefined = values.pool?.map((entry) => {
  const [name, id] = entry.split("=");
  return id ? { name: name ?? entry, id: Number(id) } : { name: entry };
});

const emulator = await startAzureDevOpsEmulator({
  host: values.host,
  port: Number(values.port),
  organization: values.org,
  tokens: (values.token ?? []).map(tokenConfig),
  rejectUnsatisfiable: values["reject-unsatisfiable"],
  ...(pools ? { pools } : {}),
  ...(values["agent-version"] ? { agentVersion: values["agent-version"] } : {}),
  ...(values["offline-after-ms"] ? { offlineAfterMs: Number(values["offline-after-ms"]) } : {}),
  ...(values["job-duration-ms"] ? { jobDurationMs: Number(values["job-duration-ms"]) } : {}),
});
console.log(emulator.url);

const stop = () => {
  emulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
