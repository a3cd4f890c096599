import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import {
  AGENT_IGNORED_VARIABLES,
  renderBuiltInStartupScript,
  renderCustomStartupScript,
  validateBootstrapValues,
  type AgentFiles,
  type BootstrapValues,
} from "../../src/bootstrap/index.ts";
import { WRITE_AGENT_FILES_STEP } from "../../src/bootstrap/agent-files-script.ts";
import { LONG_PAT } from "../helpers/secrets.ts";

/** The startup script of a pre-registered agent: its variables, and no PAT in any case. */
const FILES: AgentFiles = {
  agent: '{\n  "agentId": 17,\n  "agentName": "anka-42"\n}',
  credentials: '{\n  "scheme": "OAuth",\n  "data": {\n    "clientId": "4f0a6c2e"\n  }\n}',
  rsaParams: '{\n  "ContainerName": "",\n  "d": "c2VjcmV0\'s+/="\n}',
};
const VALUES: BootstrapValues = {
  azureDevOpsUrl: "https://dev.azure.com/contoso",
  pool: "Anka",
  agentName: "anka-42",
  agentIdentifier: "42",
  agentPackageUrl: "https://example.com/agent.tar.gz",
  agentFiles: FILES,
};

const assignment = (script: string, name: string) => new RegExp(`^  ${name}=`, "m").test(script);

describe("startup script of a pre-registered agent", () => {
  test("the built-in script carries the three files and an empty token, writes them instead of config.sh", () => {
    const script = renderBuiltInStartupScript(VALUES);
    assert.match(script, /^ {2}ANKA_AZP_REGISTRATION='preregistered'$/m);
    assert.match(script, /^ {2}ANKA_AZP_TOKEN=''$/m);
    for (const name of ["ANKA_AZP_AGENT_SETTINGS", "ANKA_AZP_AGENT_CREDENTIALS", "ANKA_AZP_AGENT_KEY"])
      assert.ok(assignment(script, name), name);
    assert.match(script, /write_agent_file \.credentials_rsaparams 600/);
    assert.match(script, /^ {2}register_agent$/m);
    assert.ok(
      [...WRITE_AGENT_FILES_STEP].every((c) => c.charCodeAt(0) < 128),
      "the step is pure ASCII",
    );
    assert.ok(script.includes(WRITE_AGENT_FILES_STEP));
    const checked = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
    assert.equal(checked.status, 0, checked.stdout);
  });

  test("inVm renders the PAT and empty file variables", () => {
    const script = renderBuiltInStartupScript({ ...VALUES, agentFiles: undefined, pat: LONG_PAT });
    assert.match(script, /^ {2}ANKA_AZP_REGISTRATION='inVm'$/m);
    assert.match(script, /^ {2}ANKA_AZP_AGENT_KEY=''$/m);
  });

  test("a custom script gets the files exported; VSO_AGENT_IGNORE keeps the key out of the capabilities", () => {
    const script = renderCustomStartupScript("echo custom\n", VALUES);
    assert.match(
      script,
      /^ {2}export .*ANKA_AZP_REGISTRATION ANKA_AZP_AGENT_SETTINGS ANKA_AZP_AGENT_CREDENTIALS ANKA_AZP_AGENT_KEY/m,
    );
    assert.ok(AGENT_IGNORED_VARIABLES.includes("ANKA_AZP_AGENT_KEY"));
    // The custom script runs in sh and sees exactly the rendered files.
    const run = spawnSync("sh", ["-s"], {
      input: `${script.replace("echo custom\n", "")}printf '%s' "$ANKA_AZP_AGENT_KEY"\n`,
      encoding: "utf8",
    });
    assert.equal(run.stdout, FILES.rsaParams);
  });

  test("the PAT and the files together are refused, the PAT without files is required", () => {
    assert.throws(() => validateBootstrapValues({ ...VALUES, pat: LONG_PAT }), /pat.*pre-registered agent/);
    assert.throws(() => validateBootstrapValues({ ...VALUES, agentFiles: undefined }), /pat.*is empty/);
  });
});
