import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

/** Static checks of vss-extension.json against the contract and against what the code reads. */
type Json = Record<string, unknown>;
const manifest = JSON.parse(
  readFileSync(new URL("../../vss-extension.json", import.meta.url), "utf8"),
) as Json;
const contributions = manifest.contributions as Json[];
const endpointType = contributions.find((c) => c.type === "ms.vss-endpoint.service-endpoint-type")
  ?.properties as Json;
const connectionSource = readFileSync(
  new URL("../../src/tasks/common/connection.ts", import.meta.url),
  "utf8",
);

describe("the extension manifest", () => {
  test("tfx's rules: id characters, description length, a target", () => {
    assert.match(String(manifest.id), /^[A-Za-z0-9_-]+$/);
    assert.ok(String(manifest.description).length <= 200);
    assert.deepEqual(manifest.targets, [{ id: "Microsoft.VisualStudio.Services" }]);
    const ids = contributions.map((c) => c.id);
    assert.equal(new Set(ids).size, ids.length, "duplicate contribution ids");
  });

  test("the endpoint type is VeertuAnkaController with every contract field, each with help", () => {
    assert.equal(endpointType.name, "VeertuAnkaController");
    const fields = (endpointType.inputDescriptors as Json[]).map((d) => d.id);
    assert.deepEqual(fields, [
      "agentPool",
      "azureDevOpsUrl",
      "agentUser",
      "agentPath",
      "agentLogPath",
      "agentProxyUrl",
      "agentDownloadUrl",
      "startupScript",
      "caCertificate",
      "skipTlsVerification",
    ]);
    for (const field of endpointType.inputDescriptors as Json[]) {
      assert.equal(
        field.isConfidential,
        false,
        `${String(field.id)}: endpoint data is not masked by the agent, so it must hold no secret`,
      );
      assert.ok(String(field.description).length > 20, `${String(field.id)} needs help text`);
    }
    assert.equal(
      (endpointType.inputDescriptors as Json[]).find((d) => d.id === "agentPool")?.validation &&
        ((endpointType.inputDescriptors as Json[]).find((d) => d.id === "agentPool")?.validation as Json)
          .isRequired,
      true,
    );
  });

  test("every scheme carries the PAT; every secret is a confidential scheme parameter", () => {
    const schemes = endpointType.authenticationSchemes as Json[];
    assert.deepEqual(
      schemes.map((s) => s.type),
      [
        "ms.vss-endpoint.endpoint-auth-scheme-none",
        "ms.vss-endpoint.endpoint-auth-scheme-basic",
        "ms.vss-endpoint.endpoint-auth-scheme-cert",
        "ms.vss-endpoint.endpoint-auth-scheme-token",
      ],
    );
    for (const scheme of schemes) {
      const inputs = scheme.inputDescriptors as Json[];
      const pat = inputs.find((i) => i.id === "azureDevOpsToken");
      assert.equal(
        pat?.isConfidential,
        true,
        `${String(scheme.type)} must carry a confidential azureDevOpsToken`,
      );
      for (const input of inputs) {
        if (input.inputMode === "passwordbox") assert.equal(input.isConfidential, true);
        assert.ok(String(input.description).length > 10, `${String(input.id)} needs help text`);
      }
    }
  });

  test("every connection value the code reads is declared", () => {
    const dataKeys = [...connectionSource.matchAll(/data\("(\w+)"\)/g)].map((m) => m[1]);
    const secretKeys = [...connectionSource.matchAll(/secret\("(\w+)"/g)].map((m) => m[1]);
    assert.ok(dataKeys.length >= 9 && secretKeys.length >= 2);
    const declaredData = new Set((endpointType.inputDescriptors as Json[]).map((d) => d.id));
    for (const key of dataKeys)
      assert.ok(declaredData.has(key), `endpoint data ${key} is read but not declared`);
    const declaredSecrets = new Set(
      (endpointType.authenticationSchemes as Json[]).flatMap((s) =>
        (s.inputDescriptors as Json[]).map((d) => d.id),
      ),
    );
    for (const key of secretKeys)
      assert.ok(declaredSecrets.has(key), `scheme parameter ${key} is read but not declared`);
  });

  test("each task contribution points at a task folder that exists", () => {
    const tasks = contributions
      .filter((c) => c.type === "ms.vss-distributed-task.task")
      .map((c) => (c.properties as Json).name);
    assert.deepEqual(tasks, ["tasks/AnkaStartInstance", "tasks/AnkaTerminateInstance"]);
    const files = (manifest.files as Json[]).map((f) => f.path);
    for (const task of tasks) assert.ok(files.includes(task), `${String(task)} is not packaged`);
  });
});
