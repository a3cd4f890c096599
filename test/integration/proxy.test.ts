import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { AnkaClient } from "../../src/anka/index.ts";
import { runTask, taskEnvironment } from "../../emulator/task-host.ts";
import { startControllerEmulator, type ControllerEmulator } from "../../emulator/controller/index.ts";
import { makeCertificates, type TestCertificates } from "../helpers/certificates.ts";
import { startProxyServer } from "../helpers/proxy-server.ts";
import { startWorld, taskFolder, type World } from "../helpers/world.ts";

/** Requests through a real forward proxy: CONNECT tunnels to an HTTPS controller, absolute-form to Azure DevOps. */
describe("through a proxy", () => {
  let certDir: string;
  let certs: TestCertificates;
  let tlsController: ControllerEmulator;
  before(async () => {
    certDir = await mkdtemp(path.join(tmpdir(), "anka-proxy-"));
    certs = await makeCertificates(certDir);
    tlsController = await startControllerEmulator({
      tls: { cert: certs.serverCertPem, key: certs.serverKeyPem },
    });
  });
  after(async () => {
    await tlsController.close();
    await rm(certDir, { recursive: true, force: true });
  });

  test("the controller client tunnels to an https controller, with the connection's CA still verified", async () => {
    const proxy = await startProxyServer({ credentials: { username: "builder", password: "pr0xy-secret" } });
    const client = new AnkaClient({
      url: tlsController.url,
      tls: { ca: certs.caPem },
      proxy: { url: proxy.url, username: "builder", password: "pr0xy-secret" },
    });
    try {
      assert.equal((await client.status()).status, "Running");
      assert.deepEqual(
        proxy.seen.map((s) => s.method),
        ["CONNECT"],
      );
      assert.equal(proxy.seen[0]?.target, new URL(tlsController.url).host);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  test("TLS verification still applies inside the tunnel: an unknown CA fails", async () => {
    const proxy = await startProxyServer();
    const client = new AnkaClient({
      url: tlsController.url,
      proxy: { url: proxy.url },
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    });
    try {
      await assert.rejects(client.status(), /caCertificate/);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  test("wrong proxy credentials are an error that says so", async () => {
    const proxy = await startProxyServer({ credentials: { username: "builder", password: "right" } });
    const client = new AnkaClient({
      url: tlsController.url,
      tls: { ca: certs.caPem },
      proxy: { url: proxy.url, username: "builder", password: "wrong" },
      retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
    });
    try {
      await assert.rejects(client.status());
      assert.equal(proxy.seen.length, 1);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});

describe("the tasks use the agent's proxy settings, and NO_PROXY", () => {
  let world: World;
  let terminate: string;
  before(async () => {
    world = await startWorld();
    terminate = await taskFolder("AnkaTerminateInstance");
  });
  after(() => world.close());

  test("Agent.ProxyUrl: the controller and Azure DevOps are both reached through the proxy; the proxy password is masked", async () => {
    const proxy = await startProxyServer({ credentials: { username: "agent", password: "agent-proxy-pw" } });
    try {
      const env = taskEnvironment({
        inputs: { agentIdentifier: "through-proxy" },
        endpoint: world.endpoint(),
        variables: { ...world.variables("31"), "Agent.ProxyUrl": proxy.url, "Agent.ProxyUsername": "agent" },
      });
      env.SECRET_AGENT_PROXYPASSWORD = "agent-proxy-pw";
      const run = await runTask(terminate, env);
      assert.equal(run.result, "Succeeded", run.stdout);
      const targets = proxy.seen.map((s) => s.target);
      assert.ok(
        targets.some((t) => t.startsWith(`${world.controller.url}/api/v1/vm`)),
        `controller via proxy: ${targets.join(" ")}`,
      );
      assert.ok(
        targets.some((t) => t.startsWith(`${world.azdo.url}/_apis/distributedtask/pools`)),
        "Azure DevOps via proxy",
      );
      // task-lib debug-prints Agent.ProxyPassword at import; the agent masks it as a secret variable
      // (reference azure-pipelines-agent.md §6). Anything else would be ours.
      const ours = run.stdout
        .split("\n")
        .filter(
          (line) =>
            !line.startsWith("##vso[task.setsecret]") &&
            !line.startsWith("##vso[task.debug]Agent.ProxyPassword="),
        );
      assert.deepEqual(
        ours.filter((line) => line.includes("agent-proxy-pw")),
        [],
      );
    } finally {
      await proxy.close();
    }
  });

  test("NO_PROXY and the agent's bypass list send requests direct", async () => {
    const proxy = await startProxyServer();
    try {
      const env = taskEnvironment({
        inputs: { agentIdentifier: "no-proxy" },
        endpoint: world.endpoint(),
        variables: {
          ...world.variables("32"),
          "Agent.ProxyUrl": proxy.url,
          "Agent.ProxyBypassList": JSON.stringify([`^${world.azdo.url.replace(/[.]/g, "\\.")}`]),
        },
      });
      env.NO_PROXY = new URL(world.controller.url).host;
      const run = await runTask(terminate, env);
      assert.equal(run.result, "Succeeded", run.stdout);
      assert.deepEqual(proxy.seen, []);
    } finally {
      await proxy.close();
    }
  });
});
