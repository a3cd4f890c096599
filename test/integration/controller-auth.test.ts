import assert from "node:assert/strict";
import { constants, createPrivateKey, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AnkaClient,
  ControllerAuthenticationError,
  ControllerTlsError,
  UakHandshakeError,
  rootTokenAuthentication,
  uakAuthentication,
  type ClientOptions,
} from "../../src/anka/index.ts";
import {
  startControllerEmulator,
  type ControllerEmulator,
  type ControllerEmulatorOptions,
} from "../../emulator/controller/index.ts";
import {
  CLIENT_CERTIFICATE_GROUP,
  CLIENT_CERTIFICATE_NAME,
  WRONG_HOST_NAME,
  makeCertificates,
  type TestCertificates,
} from "../helpers/certificates.ts";
import {
  ROOT_TOKEN,
  pemBody,
  secretForms,
  uakPrivateKeyPem,
  uakPublicKeyBase64,
} from "../helpers/secrets.ts";

/**
 * Every controller authentication method (reference §7) and TLS posture, through AnkaClient against
 * the emulator over real HTTPS, and every way they fail, each with a message naming cause and fix.
 */
const SONOMA = "6b135004-2a4e-4a6f-8d2c-1f0e3c1d266c";
const RETRY = { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 };

let certs: TestCertificates;
let certDir: string;
const emulators: ControllerEmulator[] = [];
/** Every error message the tests saw: scanned for secrets at the end. */
const errorTexts: string[] = [];
/** Every secret the tests used or the emulator issued, in every form that could leak. */
const secrets: string[] = [];

before(async () => {
  certDir = await mkdtemp(path.join(tmpdir(), "anka-auth-"));
  certs = await makeCertificates(certDir);
  // The fixed ones (root token, the client key, the tests' UAK key) in every form; the keys the
  // emulator generates and the session tokens it issues are added as they appear.
  secrets.push(...secretForms().map((form) => form.value));
});

after(async () => {
  await Promise.all(emulators.map((emulator) => emulator.close()));
  await rm(certDir, { recursive: true, force: true });
});

async function emulator(options: ControllerEmulatorOptions): Promise<ControllerEmulator> {
  const started = await startControllerEmulator(options);
  emulators.push(started);
  return started;
}

const rootAuth = { rootToken: ROOT_TOKEN };
const serverTls = () => ({ cert: certs.serverCertPem, key: certs.serverKeyPem, ca: certs.caPem });

function client(emu: ControllerEmulator, options: Omit<ClientOptions, "url"> = {}): AnkaClient {
  return new AnkaClient({ url: emu.url, retry: RETRY, timeoutMs: 5000, ...options });
}

/** status, start, get, terminate: the calls a pipeline makes. */
async function exercise(anka: AnkaClient): Promise<void> {
  try {
    assert.equal((await anka.status()).status, "Running");
    const id = await anka.startInstance({ templateId: SONOMA, tag: "base" });
    assert.equal((await anka.getInstance(id)).id, id);
    await anka.terminateInstance(id);
  } finally {
    anka.close();
  }
}

/** Runs `action`, which must fail; keeps the error's whole text for the secret scan. */
async function failure(action: () => unknown): Promise<Error> {
  try {
    await action();
  } catch (error) {
    const texts = [String(error), (error as Error).stack ?? ""];
    for (let cause = (error as Error).cause; cause; cause = (cause as Error).cause) texts.push(String(cause));
    errorTexts.push(...texts);
    return error as Error;
  }
  assert.fail("expected a failure");
}

interface RawAnswer {
  status: number;
  text: string;
}

/** A request outside the client, for API-key management and probes. */
function raw(
  emu: ControllerEmulator,
  method: string,
  pathname: string,
  options: { body?: unknown; authorization?: string } = {},
): Promise<RawAnswer> {
  const url = new URL(pathname, emu.url);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  // Node sends a DELETE body with neither length nor chunking unless told its length.
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(body));
  }
  if (options.authorization) headers.authorization = options.authorization;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers, ca: certs.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;

async function createApiKey(
  emu: ControllerEmulator,
  request: { id: string; ttl: number; groups?: string[]; publicKey?: string },
): Promise<string | undefined> {
  const answer = await raw(emu, "POST", "/api/v1/apikey", {
    body: request,
    authorization: basic("root", ROOT_TOKEN),
  });
  assert.equal(answer.status, 200, answer.text);
  const envelope = JSON.parse(answer.text) as { status: string; body?: string };
  assert.equal(envelope.status, "OK");
  if (envelope.body) secrets.push(pemBody(envelope.body));
  return envelope.body;
}

const count = (emu: ControllerEmulator, pathname: string) =>
  emu.requests.filter((request) => request.path === pathname).length;

/** Session tokens are secrets too: remember them while the emulator still holds them. */
function rememberSessions(emu: ControllerEmulator): void {
  for (const session of emu.uakSessions()) {
    secrets.push(session.token);
    const data = { userName: session.keyId, token: session.token, sessionId: session.sessionId };
    secrets.push(Buffer.from(JSON.stringify(data)).toString("base64"));
  }
}

describe("root token", () => {
  test("works through AnkaClient over HTTPS with the controller's CA; the log shows the identity, not the token", async () => {
    const emu = await emulator({ auth: rootAuth, tls: serverTls() });
    assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await exercise(client(emu, { auth: rootTokenAuthentication(ROOT_TOKEN), tls: { ca: certs.caPem } }));
    const api = emu.requests.filter((request) => request.path.startsWith("/api/v1/"));
    assert.equal(api.length, 4);
    for (const request of api) {
      assert.deepEqual(request.auth, { method: "root token", user: "root" });
      assert.equal(request.headers.authorization, "Basic");
    }
  });

  test("an empty user name is accepted (reference §7.2); another user is not", async () => {
    const emu = await emulator({ auth: rootAuth });
    assert.equal(
      (await raw(emu, "GET", "/api/v1/status", { authorization: basic("", ROOT_TOKEN) })).status,
      200,
    );
    const other = await raw(emu, "GET", "/api/v1/status", { authorization: basic("admin", ROOT_TOKEN) });
    assert.equal(other.status, 401);
    assert.deepEqual(JSON.parse(other.text), { status: "FAIL", message: "Authentication Required" });
  });

  test("health probes and the emulator's admin routes need no credential", async () => {
    const emu = await emulator({ auth: rootAuth, tls: serverTls() });
    assert.equal((await raw(emu, "GET", "/livez")).status, 200);
    assert.equal((await raw(emu, "GET", "/readyz")).status, 200);
    assert.equal((await raw(emu, "GET", "/_emulator/requests")).status, 200);
    assert.equal((await raw(emu, "GET", "/api/v1/status")).status, 401);
  });

  test("the emulator refuses a root token shorter than the controller allows", async () => {
    await assert.rejects(startControllerEmulator({ auth: { rootToken: "short" } }), /at least 10/);
  });
});

describe("client certificate (mTLS)", () => {
  test("works through AnkaClient; the certificate's O= group and CN= appear in the emulator's log", async () => {
    const emu = await emulator({ auth: { ...rootAuth, clientCertificates: true }, tls: serverTls() });
    const anka = client(emu, {
      tls: { ca: certs.caPem, cert: certs.clientCertPem, key: certs.clientKeyPem },
    });
    assert.equal(anka.transport.authMethod, "client certificate");
    await exercise(anka);
    const api = emu.requests.filter((request) => request.path.startsWith("/api/v1/"));
    assert.equal(api.length, 4);
    for (const request of api) {
      assert.deepEqual(request.auth, {
        method: "certificate",
        user: CLIENT_CERTIFICATE_NAME,
        group: CLIENT_CERTIFICATE_GROUP,
      });
    }
  });
});

describe("UAK", () => {
  let emu: ControllerEmulator;
  before(async () => {
    emu = await emulator({ auth: { ...rootAuth, apiKeys: true }, tls: serverTls() });
  });
  after(() => rememberSessions(emu));

  const uakClient = (id: string, privateKey: string, sessionTtlMs?: number) =>
    client(emu, { tls: { ca: certs.caPem }, auth: uakAuthentication({ id, privateKey, sessionTtlMs }) });

  test("a key the controller generated (PKCS#1 PEM) works through AnkaClient", async () => {
    const pem = await createApiKey(emu, { id: "generated", ttl: 3600, groups: ["ios-builders"] });
    assert.match(pem ?? "", /^-----BEGIN RSA PRIVATE KEY-----\n/);
    const anka = uakClient("generated", pem as string);
    assert.equal(anka.transport.authMethod, "UAK");
    await exercise(anka);
    rememberSessions(emu);
    const used = emu.requests.filter((request) => request.auth?.user === "generated");
    assert.equal(used.length, 4);
    assert.deepEqual(used[0]?.auth, { method: "uak", user: "generated", groups: ["ios-builders"] });
    assert.equal(used[0]?.headers.authorization, "Bearer");
    const shake = emu.requests.find((request) => request.path === "/tap/v1/shake");
    assert.deepEqual(shake?.body, { id: "generated", secret: "[redacted]" });
  });

  test("a key registered by its public half works with the private key as a bare base64 body", async () => {
    await createApiKey(emu, { id: "own-key", ttl: 3600, publicKey: uakPublicKeyBase64() });
    // The tests' fixed UAK key, as PKCS#8 this time, pasted as its base64 body with line breaks.
    const pem = createPrivateKey(uakPrivateKeyPem()).export({ type: "pkcs8", format: "pem" }) as string;
    secrets.push(pemBody(pem));
    const body = pem.split("\n").slice(1, -2).join("\n");
    await exercise(uakClient("own-key", body));
    // The list shows keys, never key material.
    const listed = await raw(emu, "GET", "/api/v1/apikey", { authorization: basic("root", ROOT_TOKEN) });
    assert.deepEqual(
      (JSON.parse(listed.text) as { body: { id: string }[] }).body.map((key) => key.id).sort(),
      ["generated", "own-key"],
    );
    assert.doesNotMatch(listed.text, /PRIVATE|publicKey/);
    rememberSessions(emu);
  });

  test("an expired session is renewed transparently with exactly one more handshake", async () => {
    const short = await emulator({ auth: { ...rootAuth, apiKeys: true, sessionTtlMs: 300 } });
    const pem = await createApiKey(short, { id: "short", ttl: 3600 });
    const anka = client(short, { auth: uakAuthentication({ id: "short", privateKey: pem as string }) });
    await anka.status();
    rememberSessions(short);
    assert.equal(count(short, "/tap/v1/shake"), 1);
    await sleep(400);
    await anka.status();
    rememberSessions(short);
    assert.equal(count(short, "/tap/v1/hand"), 2);
    assert.equal(count(short, "/tap/v1/shake"), 2);
    const statuses = short.requests.filter((request) => request.path === "/api/v1/status");
    assert.deepEqual(
      statuses.map((request) => request.auth?.method ?? "refused"),
      ["uak", "refused", "uak"],
    );
    anka.close();
  });

  test("with the session TTL known, the session is renewed before it ends: no refusal at all", async () => {
    const short = await emulator({ auth: { ...rootAuth, apiKeys: true, sessionTtlMs: 300 } });
    const pem = await createApiKey(short, { id: "short", ttl: 3600 });
    const anka = client(short, {
      auth: uakAuthentication({ id: "short", privateKey: pem as string, sessionTtlMs: 300 }),
    });
    await anka.status();
    await sleep(260);
    await anka.status();
    await anka.status();
    rememberSessions(short);
    assert.equal(count(short, "/tap/v1/shake"), 2);
    assert.ok(short.requests.every((request) => request.path.startsWith("/tap/") || request.auth));
    anka.close();
  });

  test("concurrent calls share one handshake", async () => {
    const pem = await createApiKey(emu, { id: "busy", ttl: 3600 });
    const shakesBefore = count(emu, "/tap/v1/shake");
    const anka = uakClient("busy", pem as string);
    const statuses = await Promise.all(Array.from({ length: 8 }, () => anka.status()));
    assert.equal(statuses.length, 8);
    assert.equal(count(emu, "/tap/v1/shake") - shakesBefore, 1);
    rememberSessions(emu);
    anka.close();
  });

  test("a deleted key fails with the unknown-id advice; only the root token manages keys", async () => {
    const pem = await createApiKey(emu, { id: "doomed", ttl: 3600 });
    const uakSession = uakClient("doomed", pem as string);
    await uakSession.status();
    rememberSessions(emu);
    const removed = await raw(emu, "DELETE", "/api/v1/apikey", {
      body: { id: "doomed" },
      authorization: basic("root", ROOT_TOKEN),
    });
    assert.equal(removed.status, 200);
    const error = await failure(() => uakSession.status());
    assert.ok(error instanceof UakHandshakeError, String(error));
    assert.match(error.message, /does not accept UAK id "doomed".*unknown, deleted or expired/);
    uakSession.close();
    // A UAK holder is not root: key management answers 403.
    const other = await createApiKey(emu, { id: "not-root", ttl: 3600 });
    const anka = uakClient("not-root", other as string);
    await anka.status();
    anka.close();
    rememberSessions(emu);
    const session = emu.uakSessions().find((candidate) => candidate.keyId === "not-root");
    assert.ok(session);
    const data = { sessionId: session.sessionId, token: session.token, userName: "not-root" };
    const bearer = `Bearer ${Buffer.from(JSON.stringify(data)).toString("base64")}`;
    const listed = await raw(emu, "GET", "/api/v1/apikey", { authorization: bearer });
    assert.equal(listed.status, 403);
    assert.equal((await raw(emu, "GET", "/api/v1/status", { authorization: bearer })).status, 200);
  });

  test("a key's TTL ends its handshakes", async () => {
    const pem = await createApiKey(emu, { id: "brief", ttl: 1 });
    const anka = uakClient("brief", pem as string);
    await anka.status();
    rememberSessions(emu);
    await sleep(1050);
    const error = await failure(() => anka.status());
    assert.match(error.message, /does not accept UAK id "brief"/);
    anka.close();
  });

  test("the emulator's handshake by hand: raw base64 hand, {id, data} shake, single-use secret", async () => {
    const pem = await createApiKey(emu, { id: "by-hand", ttl: 3600 });
    const hand = await raw(emu, "POST", "/tap/v1/hand", { body: { id: "by-hand" } });
    assert.equal(hand.status, 200);
    assert.match(hand.text, /^[A-Za-z0-9+/]+=*$/);
    const secret = privateDecrypt(
      { key: pem as string, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from(hand.text, "base64"),
    ).toString();
    assert.match(secret, /^[A-Za-z0-9_-]+$/);
    secrets.push(secret);
    const shake = await raw(emu, "POST", "/tap/v1/shake", { body: { id: "by-hand", secret } });
    assert.equal(shake.status, 200);
    const answer = JSON.parse(shake.text) as { id: string; data: Record<string, string> };
    assert.equal(answer.id, "by-hand");
    assert.deepEqual(Object.keys(answer.data).sort(), ["sessionId", "token", "userName"]);
    assert.equal(answer.data.userName, "by-hand");
    secrets.push(answer.data.token as string);
    // Any key order: the emulator reads the bearer's JSON, not its bytes.
    const reordered = { token: answer.data.token, userName: "by-hand", sessionId: answer.data.sessionId };
    const bearer = `Bearer ${Buffer.from(JSON.stringify(reordered)).toString("base64")}`;
    assert.equal((await raw(emu, "GET", "/api/v1/status", { authorization: bearer })).status, 200);
    const again = await raw(emu, "POST", "/tap/v1/shake", { body: { id: "by-hand", secret } });
    assert.equal(again.status, 401);
    assert.deepEqual(JSON.parse(again.text), { status: "FAIL", message: "Authentication Required" });
  });

  test("handshake failures from the emulator: unknown id, wrong secret, expired secret", async () => {
    const hand = await raw(emu, "POST", "/tap/v1/hand", { body: { id: "nobody" } });
    assert.equal(hand.status, 401);
    assert.deepEqual(JSON.parse(hand.text), { status: "FAIL", message: "Authentication Required" });
    const shake = await raw(emu, "POST", "/tap/v1/shake", { body: { id: "generated", secret: "guess" } });
    assert.equal(shake.status, 401);
    const hasty = await emulator({ auth: { ...rootAuth, apiKeys: true, handshakeSecretTtlMs: 50 } });
    const pem = await createApiKey(hasty, { id: "slow", ttl: 3600 });
    const late = await raw(hasty, "POST", "/tap/v1/hand", { body: { id: "slow" } });
    const secret = privateDecrypt(
      { key: pem as string, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      Buffer.from(late.text, "base64"),
    ).toString();
    await sleep(80);
    assert.equal((await raw(hasty, "POST", "/tap/v1/shake", { body: { id: "slow", secret } })).status, 401);
  });
});

describe("failures name the cause and the fix", () => {
  test("unknown CA: the server's certificate without its CA, or with another CA", async () => {
    // With a `ca` the server sends the CA along (SELF_SIGNED_CERT_IN_CHAIN); without, the leaf alone.
    const leafOnly = await emulator({ tls: { cert: certs.serverCertPem, key: certs.serverKeyPem } });
    const withChain = await emulator({ tls: serverTls() });
    const cases = [
      { emu: leafOnly, tls: {}, code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
      { emu: leafOnly, tls: { ca: certs.otherCaPem }, code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
      { emu: withChain, tls: {}, code: "SELF_SIGNED_CERT_IN_CHAIN" },
    ];
    for (const { emu, tls, code } of cases) {
      const anka = client(emu, { tls });
      const error = await failure(() => anka.status());
      anka.close();
      assert.ok(error instanceof ControllerTlsError, String(error));
      assert.equal(error.code, code);
      assert.equal(error.retryable, false);
      assert.match(error.message, /not signed by a CA this agent trusts/);
      assert.match(error.message, /Give the controller's CA certificate in the connection \(caCertificate\)/);
    }
  });

  test("a self-signed certificate without a CA; with the certificate as CA it works", async () => {
    const emu = await emulator({ tls: { cert: certs.selfSignedCertPem, key: certs.selfSignedKeyPem } });
    const anka = client(emu);
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerTlsError);
    assert.equal(error.code, "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.match(error.message, /self-signed.*caCertificate/);
    const trusting = client(emu, { tls: { ca: certs.selfSignedCertPem } });
    assert.equal((await trusting.status()).status, "Running");
    trusting.close();
  });

  test("skipTlsVerification (rejectUnauthorized: false) accepts any certificate", async () => {
    const emu = await emulator({ tls: { cert: certs.wrongHostCertPem, key: certs.wrongHostKeyPem } });
    const anka = client(emu, { tls: { rejectUnauthorized: false } });
    assert.equal((await anka.status()).status, "Running");
    anka.close();
  });

  test("an https:// URL for a plain-HTTP controller", async () => {
    const emu = await emulator({});
    const anka = new AnkaClient({ url: emu.url.replace("http:", "https:"), retry: RETRY });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerTlsError);
    assert.equal(error.retryable, false);
    assert.match(error.message, /does not speak TLS on this port.*Use http:\/\//);
  });

  test("hostname mismatch names the host and the certificate's names", async () => {
    const emu = await emulator({ tls: { cert: certs.wrongHostCertPem, key: certs.wrongHostKeyPem } });
    const anka = client(emu, { tls: { ca: certs.caPem } });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerTlsError);
    assert.equal(error.code, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.match(error.message, /not issued for host "127\.0\.0\.1"/);
    assert.ok(error.message.includes(`DNS:${WRONG_HOST_NAME}`), error.message);
    assert.match(error.message, /Use the name in the certificate in the controller URL/);
  });

  test("no client certificate against certificate authentication", async () => {
    const emu = await emulator({ auth: { ...rootAuth, clientCertificates: true }, tls: serverTls() });
    const anka = client(emu, { tls: { ca: certs.caPem } });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerAuthenticationError, String(error));
    assert.equal(error.httpStatus, 401);
    assert.match(error.message, /Authentication Required/);
    assert.match(error.message, /requires authentication and this connection has none/);
    assert.match(error.message, /root token.*client certificate.*UAK/);
  });

  test("a client certificate from another CA", async () => {
    const emu = await emulator({ auth: { ...rootAuth, clientCertificates: true }, tls: serverTls() });
    const anka = client(emu, {
      tls: { ca: certs.caPem, cert: certs.foreignClientCertPem, key: certs.foreignClientKeyPem },
    });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerAuthenticationError);
    assert.match(
      error.message,
      /did not accept the client certificate.*signed by the CA the controller trusts/,
    );
    assert.equal(emu.requests[0]?.auth, undefined);
  });

  test("a wrong root token", async () => {
    const emu = await emulator({ auth: rootAuth });
    const anka = client(emu, { auth: rootTokenAuthentication(`${ROOT_TOKEN}-wrong`) });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof ControllerAuthenticationError);
    assert.match(error.message, /refused the root token.*ANKA_ROOT_TOKEN/);
  });

  test("no authentication against a controller that requires it", async () => {
    const emu = await emulator({ auth: rootAuth });
    const anka = client(emu);
    const error = await failure(() => anka.startInstance({ templateId: SONOMA }));
    anka.close();
    assert.ok(error instanceof ControllerAuthenticationError);
    assert.match(error.message, /POST .*\/api\/v1\/vm: Authentication Required \(HTTP 401\)/);
    assert.match(error.message, /requires authentication.*root token.*client certificate.*UAK/);
    assert.equal(emu.liveInstances(), 0);
  });

  test("an unknown UAK id", async () => {
    const emu = await emulator({ auth: { ...rootAuth, apiKeys: true } });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const anka = client(emu, {
      auth: uakAuthentication({
        id: "nobody",
        privateKey: privateKey.export({ type: "pkcs1", format: "pem" }) as string,
      }),
    });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof UakHandshakeError, String(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, /does not accept UAK id "nobody" \(HTTP 401: Authentication Required\)/);
    assert.match(error.message, /Check the UAK id in the connection, or create a key/);
    assert.equal(count(emu, "/tap/v1/hand"), 1);
    assert.equal(count(emu, "/api/v1/status"), 0);
  });

  test("a UAK private key that does not belong to the id", async () => {
    const emu = await emulator({ auth: { ...rootAuth, apiKeys: true } });
    await createApiKey(emu, { id: "real", ttl: 3600 });
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const wrongPem = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    secrets.push(pemBody(wrongPem));
    const anka = client(emu, { auth: uakAuthentication({ id: "real", privateKey: wrongPem }) });
    const error = await failure(() => anka.status());
    anka.close();
    assert.ok(error instanceof UakHandshakeError);
    assert.match(
      error.message,
      /private key does not belong to UAK id "real".*created together with this UAK id/,
    );
    assert.equal(count(emu, "/tap/v1/shake"), 0);
  });

  test("a UAK private key that is not a key", async () => {
    const error = await failure(() => uakAuthentication({ id: "x", privateKey: "not a key at all" }));
    assert.equal(
      error.message,
      "UAK private key is not a valid RSA private key: paste the PEM or its base64 body",
    );
  });

  test("certificate authentication against a plain-http URL, at construction", async () => {
    const error = await failure(
      () =>
        new AnkaClient({
          url: "http://127.0.0.1:8090",
          tls: { cert: certs.clientCertPem, key: certs.clientKeyPem },
        }),
    );
    assert.match(error.message, /Client certificates need an https:\/\/ controller URL/);
  });

  test("an encrypted client key, at construction", async () => {
    const error = await failure(
      () =>
        new AnkaClient({
          url: "https://127.0.0.1:8090",
          tls: { cert: certs.clientCertPem, key: certs.clientKeyEncryptedPem },
        }),
    );
    assert.match(error.message, /encrypted.*openssl pkey -in key\.pem -out key-unencrypted\.pem/);
  });

  test("a client certificate with someone else's key, at construction", async () => {
    const error = await failure(
      () =>
        new AnkaClient({
          url: "https://127.0.0.1:8090",
          tls: { cert: certs.clientCertPem, key: certs.foreignClientKeyPem },
        }),
    );
    assert.match(error.message, /certificate and private key do not belong together/);
  });
});

describe("secrets", () => {
  test("appear in no error message and nowhere in the emulators' request logs", () => {
    if (process.env.SHOW_AUTH_ERRORS)
      console.log(errorTexts.filter((text) => !text.includes("\n    at ")).join("\n\n"));
    assert.ok(errorTexts.length >= 15, `errors seen: ${errorTexts.length}`);
    assert.ok(secrets.length >= 10, `secrets: ${secrets.length}`);
    const logs = emulators.map((emu) => JSON.stringify(emu.requests));
    for (const secret of secrets) {
      assert.ok(secret.length >= 8);
      for (const text of [...errorTexts, ...logs]) assert.ok(!text.includes(secret), "a secret leaked");
    }
  });
});
