import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { renderMustache, selectJsonPath } from "../helpers/azdo-templates.ts";

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
      "agentRegistration",
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
    const agentPool = (endpointType.inputDescriptors as Json[]).find((d) => d.id === "agentPool");
    assert.equal((agentPool?.validation as Json | undefined)?.isRequired, true, "agentPool is required");
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
    assert.deepEqual(tasks, [
      "tasks/AnkaStartInstance",
      "tasks/AnkaTerminateInstance",
      "tasks/AnkaStartInstanceServer",
      "tasks/AnkaTerminateInstanceServer",
      "tasks/AnkaCleanup",
    ]);
    const files = (manifest.files as Json[]).map((f) => f.path);
    for (const task of tasks) assert.ok(files.includes(task), `${String(task)} is not packaged`);
    const folders = readdirSync(tasksDir).filter((folder) => /V\d+$/.test(folder));
    for (const folder of folders)
      assert.ok(tasks.includes(`tasks/${folder.replace(/V\d+$/, "")}`), `${folder} has no contribution`);
  });
});

const tasksDir = new URL("../../src/tasks/", import.meta.url);
const taskFiles = readdirSync(tasksDir)
  .filter((folder) => /V\d+$/.test(folder))
  .map((folder) => ({
    folder,
    task: JSON.parse(readFileSync(new URL(`${folder}/task.json`, tasksDir), "utf8")) as Json,
  }));
const dataSources = (endpointType.dataSources as Json[]) ?? [];

describe("data sources, bindings and connection inputs agree with the endpoint type", () => {
  test("Verify is the TestConnection data source; data source names are unique", () => {
    const names = dataSources.map((d) => d.name);
    assert.ok(names.includes("TestConnection"), "without TestConnection there is no Verify button");
    assert.equal(new Set(names).size, names.length);
  });

  test("every connectedService input names this endpoint type", () => {
    for (const { folder, task } of taskFiles)
      for (const input of (task.inputs as Json[]).filter((i) =>
        String(i.type).startsWith("connectedService:"),
      )) {
        const [, typeName] = String(input.type).split(":");
        assert.equal(typeName, endpointType.name, `${folder} input ${String(input.name)}`);
      }
  });

  test("every dataSourceName a task binds exists on the endpoint type", () => {
    let bindings = 0;
    for (const { folder, task } of taskFiles)
      for (const binding of (task.dataSourceBindings as Json[]) ?? []) {
        bindings++;
        assert.ok(
          dataSources.some((d) => d.name === binding.dataSourceName),
          `${folder}: data source ${String(binding.dataSourceName)} does not exist`,
        );
      }
    assert.ok(bindings >= 4, "both Start tasks bind template and tag");
  });

  test("each data source's URL uses only endpoint fields and parameters every binding supplies", () => {
    const endpointFields = new Set([
      "url",
      ...(endpointType.inputDescriptors as Json[]).map((d) => String(d.id)),
    ]);
    for (const source of dataSources) {
      const url = String(source.endpointUrl);
      assert.match(
        url,
        /^\{\{\{endpoint\.url\}\}\}\//,
        `${String(source.name)}: starts at the controller URL`,
      );
      const names = [...url.matchAll(/\{\{\{?\s*([\w.]+)\s*\}?\}\}/g)].map((m) => m[1] as string);
      const bindings = taskFiles.flatMap(({ task }) =>
        ((task.dataSourceBindings as Json[]) ?? []).filter((b) => b.dataSourceName === source.name),
      );
      for (const name of names) {
        if (name.startsWith("endpoint.")) {
          assert.ok(
            endpointFields.has(name.slice(9)),
            `${String(source.name)}: ${name} is not an endpoint field`,
          );
          continue;
        }
        assert.ok(bindings.length > 0, `${String(source.name)} needs ${name} but nothing binds it`);
        for (const binding of bindings)
          assert.ok(
            Object.keys((binding.parameters as Json) ?? {}).includes(name),
            `a binding of ${String(source.name)} does not supply ${name}`,
          );
      }
      assert.match(String(source.resultSelector), /^jsonpath:/, `${String(source.name)}: JSONPath selector`);
      selectJsonPath({}, String(source.resultSelector).slice("jsonpath:".length));
      assert.ok(!url.includes("?") || /\?[\w]+=\{\{\{/.test(url), "parameters are not HTML-escaped");
    }
  });

  test("resultTemplates render to { Value, DisplayValue } JSON", () => {
    const sample = {
      id: "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c",
      name: "sonoma-14",
      arch: "arm64",
      tag: "xcode-15",
    };
    for (const { folder, task } of taskFiles)
      for (const binding of (task.dataSourceBindings as Json[]) ?? []) {
        const item = JSON.parse(renderMustache(String(binding.resultTemplate), sample)) as Json;
        assert.equal(typeof item.Value, "string", `${folder} ${String(binding.target)}`);
        assert.equal(typeof item.DisplayValue, "string", `${folder} ${String(binding.target)}`);
      }
  });

  test("no scheme header sends a secret the controller must not see", () => {
    // The token scheme's default header is the raw token (authenticationSchemes.md): for the UAK
    // scheme that would be the private key. The scheme overrides it with a constant.
    const schemes = endpointType.authenticationSchemes as Json[];
    const token = schemes.find((s) => s.type === "ms.vss-endpoint.endpoint-auth-scheme-token");
    const headers = (token?.headers as Json[]) ?? [];
    assert.ok(
      headers.some((h) => h.name === "Authorization"),
      "the token scheme overrides Authorization",
    );
    for (const scheme of schemes)
      for (const header of (scheme.headers as Json[]) ?? [])
        assert.doesNotMatch(String(header.value), /apitoken|azureDevOpsToken|privateKey|certificate/);
  });
});
