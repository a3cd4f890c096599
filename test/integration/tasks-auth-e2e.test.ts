import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runTask, taskEnvironment, type EndpointFixture, type TaskRun } from "../../emulator/task-host.ts";
import { makeCertificates, type TestCertificates } from "../helpers/certificates.ts";
import {
  ROOT_TOKEN,
  UAK_ID,
  pemBody,
  secretForms,
  uakPrivateKeyPem,
  uakPublicKeyBase64,
} from "../helpers/secrets.ts";
import { startWorld, taskFolder, type World } from "../helpers/world.ts";

/**
 * Each controller authentication method through the built tasks, over real TLS: the emulator
 * serves HTTPS with a CA made at test time and enforces root token, client certificates and UAK.
 */
describe("controller authentication through the tasks, over TLS", () => {
  let world: World;
  let certs: TestCertificates;
  let certDir: string;
  const uakKey = uakPrivateKeyPem();
  let start: string;
  let terminate: string;
  const secrets = secretForms();

  before(async () => {
    certDir = await mkdtemp(path.join(tmpdir(), "anka-certs-"));
    certs = await makeCertificates(certDir);
    world = await startWorld({
      controller: {
        auth: { rootToken: ROOT_TOKEN, apiKeys: true, clientCertificates: true },
        tls: { cert: certs.serverCertPem, key: certs.serverKeyPem, ca: certs.caPem },
      },
    });
    await createApiKey(world.controller.url, certs.caPem);
    start = await taskFolder("AnkaStartInstance");
    terminate = await taskFolder("AnkaTerminateInstance");
  });
  after(async () => {
    await world.close();
    await rm(certDir, { recursive: true, force: true });
  });

  function assertNoSecrets(run: TaskRun): void {
    const visible = `${run.stdout
      .split("\n")
      .filter((line) => !line.startsWith("##vso[task.setsecret]"))
      .join("\n")}${run.stderr}`;
    for (const { label, value } of secrets) assert.ok(!visible.includes(value), `${label} leaked`);
  }

  const inputs = (identifier: string) => ({
    template: "sonoma-14",
    tag: "base",
    agentIdentifier: identifier,
    startTimeoutMinutes: "1",
    agentTimeoutMinutes: "0.5",
  });
  const endpointWith = (
    scheme: string,
    parameters: Record<string, string>,
    data: Record<string, string> = {},
  ): EndpointFixture => world.endpoint({ scheme, parameters, data: { caCertificate: certs.caPem, ...data } });

  async function startAndTerminate(identifier: string, endpoint: EndpointFixture): Promise<void> {
    const env = (taskInputs: Record<string, string>) =>
      taskEnvironment({ inputs: taskInputs, endpoint, variables: world.variables("5150") });
    const started = await runTask(start, env(inputs(identifier)));
    assert.equal(started.result, "Succeeded", started.stdout);
    assertNoSecrets(started);
    const stopped = await runTask(terminate, env({ agentIdentifier: identifier, removeAgent: "true" }));
    assert.equal(stopped.result, "Succeeded", stopped.stdout);
    assertNoSecrets(stopped);
    assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
  }

  const authOfLastStart = () =>
    world.controller.requests.filter((r) => r.method === "POST" && r.path === "/api/v1/vm").at(-1)?.auth;

  test("root token (UsernamePassword)", async () => {
    await startAndTerminate(
      "rta",
      endpointWith("UsernamePassword", { username: "root", password: ROOT_TOKEN }),
    );
    assert.equal(authOfLastStart()?.method, "root token");
  });

  test("client certificate with its key in a separate field (Certificate)", async () => {
    await startAndTerminate(
      "mtls",
      endpointWith("Certificate", { certificate: certs.clientCertPem, privateKey: certs.clientKeyPem }),
    );
    assert.equal(authOfLastStart()?.method, "certificate");
  });

  test("client certificate and key pasted together", async () => {
    await startAndTerminate(
      "mtls-combined",
      endpointWith("Certificate", { certificate: `${certs.clientCertPem}\n${certs.clientKeyPem}` }),
    );
    assert.equal(authOfLastStart()?.method, "certificate");
  });

  test("UAK with the key as the bare base64 body users paste (Token)", async () => {
    await startAndTerminate("uak", endpointWith("Token", { uakId: UAK_ID, apitoken: pemBody(uakKey) }));
    assert.equal(authOfLastStart()?.method, "uak");
  });

  test("skipTlsVerification works without the CA and warns on the run", async () => {
    const endpoint = world.endpoint({
      scheme: "UsernamePassword",
      parameters: { username: "root", password: ROOT_TOKEN },
      data: { skipTlsVerification: "true" },
    });
    const run = await runTask(
      terminate,
      taskEnvironment({
        inputs: { agentIdentifier: "nothing-here" },
        endpoint,
        variables: world.variables("1"),
      }),
    );
    assert.equal(run.result, "Succeeded", run.stdout);
    assert.match(run.warnings.join("\n"), /TLS verification of the Anka controller is OFF/);
  });

  for (const [name, endpoint, expected] of [
    [
      "a wrong root token",
      () => endpointWith("UsernamePassword", { username: "root", password: "not-the-root-token" }),
      /root token/i,
    ],
    [
      "an unknown CA (no caCertificate)",
      () =>
        world.endpoint({
          scheme: "UsernamePassword",
          parameters: { username: "root", password: ROOT_TOKEN },
        }),
      /caCertificate/,
    ],
    [
      "no authentication against a controller that requires it",
      () => endpointWith("None", {}),
      /requires authentication/i,
    ],
    ["an unknown UAK id", () => endpointWith("Token", { uakId: "nobody", apitoken: uakKey }), /nobody/],
    [
      "a client certificate without its key",
      () => endpointWith("Certificate", { certificate: certs.clientCertPem }),
      /no private key/,
    ],
  ] as const) {
    test(`${name}: fails with a message naming the cause, nothing started`, async () => {
      const run = await runTask(
        start,
        taskEnvironment({ inputs: inputs("denied"), endpoint: endpoint(), variables: world.variables("6") }),
      );
      assert.equal(run.result, "Failed", run.stdout);
      assert.match(run.resultMessage, expected);
      assertNoSecrets(run);
      assert.deepEqual(world.leftovers(), { instances: 0, agents: [] });
    });
  }
});

/** POST /api/v1/apikey with the root token, registering the public half of the tests' fixed UAK key. */
function createApiKey(controllerUrl: string, ca: string): Promise<void> {
  const body = JSON.stringify({ id: UAK_ID, ttl: 3600, publicKey: uakPublicKeyBase64() });
  return new Promise((resolve, reject) => {
    const request = https.request(
      new URL("/api/v1/apikey", controllerUrl),
      {
        method: "POST",
        ca,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          authorization: `Basic ${Buffer.from(`root:${ROOT_TOKEN}`).toString("base64")}`,
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          const envelope = JSON.parse(text) as { status: string };
          if (envelope.status !== "OK") reject(new Error(`apikey: ${text}`));
          else resolve();
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}
