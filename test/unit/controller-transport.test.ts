import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import {
  AnkaClient,
  ControllerFailError,
  ControllerNetworkError,
  ControllerResponseError,
  ControllerShapeError,
  ControllerTimeoutError,
  START_TOKEN_METADATA_KEY,
  backoffDelay,
  rootTokenAuthentication,
  type RetryEvent,
} from "../../src/anka/index.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { scriptedServer, type Reply } from "../helpers/scripted-server.ts";

const RETRY = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
const OK_STATUS: Reply = {
  json: { status: "OK", message: "", body: { status: "Running", version: "1.50.1" } },
};

async function withServer(
  replies: Reply[] | Parameters<typeof scriptedServer>[0],
  run: (
    client: AnkaClient,
    server: Awaited<ReturnType<typeof scriptedServer>>,
    retries: RetryEvent[],
  ) => Promise<void>,
  timeoutMs = 2000,
) {
  const server = await scriptedServer(replies);
  const retries: RetryEvent[] = [];
  const client = new AnkaClient({
    url: server.url,
    retry: RETRY,
    clock: new FakeClock(),
    timeoutMs,
    onRetry: (e) => retries.push(e),
  });
  try {
    await run(client, server, retries);
  } finally {
    client.close();
    await server.close();
  }
}

describe("the envelope", () => {
  test("FAIL with HTTP 200 is still an error carrying the controller's message", async () => {
    await withServer([{ json: { status: "FAIL", message: "Not found" } }], async (client) => {
      await assert.rejects(
        client.getInstance("x"),
        (e: unknown) => e instanceof ControllerFailError && e.notFound && e.httpStatus === 200,
      );
    });
  });

  test("any status other than OK is a failure (old registries said ERROR)", async () => {
    await withServer([{ json: { status: "ERROR", message: "disk full" } }], async (client) => {
      await assert.rejects(client.listTemplates(), /disk full.*status ERROR/);
    });
  });

  test("an HTML page from a proxy: HTTP code and an excerpt, retried as a 5xx", async () => {
    const html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    await withServer([{ status: 502, text: html, contentType: "text/html" }], async (client, server) => {
      await assert.rejects(client.status(), (e: unknown) => {
        assert.ok(e instanceof ControllerResponseError);
        assert.equal(e.httpStatus, 502);
        assert.match(e.message, /HTTP 502/);
        assert.match(e.message, /502 Bad Gateway/);
        return true;
      });
      assert.equal(server.seen.length, RETRY.attempts);
    });
  });

  test("an empty body is an error naming the HTTP code, not retried on 200", async () => {
    await withServer([{ status: 200, text: "" }], async (client, server) => {
      await assert.rejects(client.status(), /empty body/);
      assert.equal(server.seen.length, 1);
    });
  });

  test("JSON that is not the envelope", async () => {
    await withServer([{ json: ["a"] }], async (client) => {
      await assert.rejects(client.status(), /without the controller's \{status, message\} envelope/);
    });
  });

  test("an envelope whose body has the wrong shape names the field", async () => {
    await withServer(
      [{ json: { status: "OK", message: "", body: { instance_state: 7 } } }],
      async (client) => {
        await assert.rejects(
          client.getInstance("x"),
          (e: unknown) =>
            e instanceof ControllerShapeError &&
            /instance_state: expected a string, got number 7/.test(e.message),
        );
      },
    );
  });

  test("an error never shows a request body (the startup script may hold secrets)", async () => {
    await withServer([{ status: 400, json: { status: "FAIL", message: "bad" } }], async (client) => {
      await assert.rejects(
        client.startInstance({ templateId: "t", startupScript: "TOKEN=supersecret" }),
        (e: unknown) => {
          const text = `${(e as Error).message} ${JSON.stringify(e)}`;
          assert.doesNotMatch(text, /supersecret|VE9LRU4/);
          return true;
        },
      );
    });
  });
});

describe("retries", () => {
  test("GET is retried on 5xx with backoff, then succeeds", async () => {
    const fail: Reply = { status: 503, json: { status: "FAIL", message: "overloaded" } };
    await withServer([fail, fail, OK_STATUS], async (client, server, retries) => {
      assert.equal((await client.status()).version, "1.50.1");
      assert.equal(server.seen.length, 3);
      assert.deepEqual(
        retries.map((r) => r.attempt),
        [1, 2],
      );
      assert.ok(retries.every((r) => r.delayMs >= 0 && r.delayMs <= RETRY.maxDelayMs));
    });
  });

  test("GET is retried after a connection reset", async () => {
    await withServer([{ reset: true }, OK_STATUS], async (client, server) => {
      assert.equal((await client.status()).status, "Running");
      assert.equal(server.seen.length, 2);
    });
  });

  test("a 4xx FAIL is not retried", async () => {
    await withServer(
      [{ status: 400, json: { status: "FAIL", message: "No such tag v9" } }],
      async (client, server) => {
        await assert.rejects(client.getTemplate("t"), /No such tag v9/);
        assert.equal(server.seen.length, 1);
      },
    );
  });

  test("DELETE and PUT are retried (idempotent)", async () => {
    const fail: Reply = { status: 500, json: { status: "FAIL", message: "boom" } };
    const ok: Reply = { json: { status: "OK", message: "" } };
    await withServer([fail, ok, fail, ok], async (client, server) => {
      await client.terminateInstance("i-1");
      await client.updateInstance("i-1", { name: "n", externalId: "e", metadata: { a: 1 } });
      assert.deepEqual(
        server.seen.map((s) => s.method),
        ["DELETE", "DELETE", "PUT", "PUT"],
      );
      assert.deepEqual(JSON.parse(server.seen[3]?.body ?? ""), {
        name: "n",
        external_id: "e",
        metadata: { a: 1 },
      });
      assert.equal(server.seen[3]?.url, "/api/v1/vm?id=i-1");
    });
  });

  test("a request that outlives its timeout fails with a timeout error, and is retried", async () => {
    let calls = 0;
    // A server that accepts connections and never answers.
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      calls++;
      held.push(socket);
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    const client = new AnkaClient({
      url: `http://127.0.0.1:${port}`,
      timeoutMs: 100,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      const started = Date.now();
      await assert.rejects(
        client.status(),
        (e: unknown) => e instanceof ControllerTimeoutError && /within 100 ms/.test(e.message),
      );
      assert.equal(calls, 2);
      assert.ok(Date.now() - started < 2000);
    } finally {
      client.close();
      held.forEach((s) => s.destroy());
      silent.close();
    }
  });

  test("connection refused names the fix", async () => {
    const server = await scriptedServer([]);
    const url = server.url;
    await server.close();
    const client = new AnkaClient({ url, retry: { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 } });
    await assert.rejects(
      client.status(),
      (e: unknown) =>
        e instanceof ControllerNetworkError &&
        e.code === "ECONNREFUSED" &&
        /check the host and port/.test(e.message),
    );
    client.close();
  });

  test("backoff grows exponentially, capped, with full jitter", () => {
    const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 1)),
      [100, 200, 400, 800, 1000],
    );
    assert.equal(
      backoffDelay(3, policy, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0.5),
      200,
    );
  });
});

describe("start is never blindly retried", () => {
  const startBodyOf = (body: string) => JSON.parse(body) as { metadata: Record<string, string> };

  test("an ambiguous failure is followed by a lookup; the instance it created is adopted, not duplicated", async () => {
    let token = "";
    await withServer(
      (req) => {
        if (req.method === "POST") {
          token = startBodyOf(req.body).metadata[START_TOKEN_METADATA_KEY] ?? "";
          return { reset: true };
        }
        return {
          json: {
            status: "OK",
            message: "",
            body: [
              {
                instance_id: "other",
                external_id: "b-1",
                name: null,
                vm: {
                  instance_state: "Started",
                  vmid: "t",
                  external_id: "b-1",
                  metadata: { [START_TOKEN_METADATA_KEY]: "someone-else" },
                },
              },
              {
                instance_id: "mine",
                external_id: "b-1",
                name: null,
                vm: {
                  instance_state: "Scheduling",
                  vmid: "t",
                  external_id: "b-1",
                  metadata: { [START_TOKEN_METADATA_KEY]: token },
                },
              },
            ],
          },
        };
      },
      async (client, server) => {
        assert.equal(await client.startInstance({ templateId: "t", externalId: "b-1" }), "mine");
        assert.deepEqual(
          server.seen.map((s) => s.method),
          ["POST", "GET"],
        );
      },
    );
  });

  test("when the lookup finds nothing, the start is tried again with the same token", async () => {
    const posts: string[] = [];
    await withServer(
      (req) => {
        if (req.method === "POST") {
          posts.push(startBodyOf(req.body).metadata[START_TOKEN_METADATA_KEY] ?? "");
          return posts.length === 1
            ? { status: 503, text: "<html>busy</html>" }
            : { json: { status: "OK", message: "", body: ["new-1"] } };
        }
        return { json: { status: "OK", message: "", body: [] } };
      },
      async (client, server) => {
        assert.equal(await client.startInstance({ templateId: "t" }), "new-1");
        assert.deepEqual(
          server.seen.map((s) => s.method),
          ["POST", "GET", "POST"],
        );
        assert.equal(posts[0], posts[1]);
      },
    );
  });

  test("when every attempt was ambiguous, a last lookup hands back an instance the last attempt created", async () => {
    let token = "";
    let lookups = 0;
    await withServer(
      (req) => {
        if (req.method === "POST") {
          token = startBodyOf(req.body).metadata[START_TOKEN_METADATA_KEY] ?? "";
          return { reset: true };
        }
        lookups++;
        const found = lookups === RETRY.attempts;
        const body = found
          ? [
              {
                instance_id: "late",
                external_id: null,
                name: null,
                vm: {
                  instance_state: "Scheduling",
                  vmid: "t",
                  metadata: { [START_TOKEN_METADATA_KEY]: token },
                },
              },
            ]
          : [];
        return { json: { status: "OK", message: "", body } };
      },
      async (client, server) => {
        assert.equal(await client.startInstance({ templateId: "t" }), "late");
        assert.equal(server.seen.filter((s) => s.method === "POST").length, RETRY.attempts);
      },
    );
  });

  test("a validation failure (4xx) is neither looked up nor retried", async () => {
    await withServer(
      [{ status: 400, json: { status: "FAIL", message: "VM not in the registry" } }],
      async (client, server) => {
        await assert.rejects(client.startInstance({ templateId: "nope" }), /VM not in the registry/);
        assert.equal(server.seen.length, 1);
      },
    );
  });

  test("the start body: numbers as numbers, base64 script, snake_case, nothing empty", async () => {
    await withServer([{ json: { status: "OK", message: "", body: ["i"] } }], async (client, server) => {
      await client.startInstance({
        templateId: "t-1",
        tag: "xcode-15",
        externalId: "42",
        name: "anka-42",
        priority: 50,
        vcpu: 4,
        vramMb: 8192,
        groupId: "",
        startupScript: "echo 'hi'\n",
        scriptMonitoring: true,
        scriptTimeoutSeconds: 300,
        metadata: { run: "https://dev.azure.com/o/p/_build/results?buildId=42" },
      });
      const body = JSON.parse(server.seen[0]?.body ?? "");
      assert.equal(body.metadata[START_TOKEN_METADATA_KEY].length, 36);
      delete body.metadata[START_TOKEN_METADATA_KEY];
      assert.deepEqual(body, {
        vmid: "t-1",
        tag: "xcode-15",
        count: 1,
        name: "anka-42",
        external_id: "42",
        priority: 50,
        startup_script: Buffer.from("echo 'hi'\n").toString("base64"),
        script_monitoring: true,
        script_timeout: 300,
        vcpu: 4,
        vram: 8192,
        metadata: { run: "https://dev.azure.com/o/p/_build/results?buildId=42" },
      });
    });
  });
});

describe("authentication", () => {
  test("root token goes as Basic root:<token>", async () => {
    const server = await scriptedServer([OK_STATUS]);
    const client = new AnkaClient({ url: server.url, auth: rootTokenAuthentication("t0ken-value") });
    await client.status();
    assert.equal(
      server.seen[0]?.headers.authorization,
      `Basic ${Buffer.from("root:t0ken-value").toString("base64")}`,
    );
    client.close();
    await server.close();
  });

  test("Authentication Required renews once, never in a loop", async () => {
    const denied: Reply = { status: 401, json: { status: "FAIL", message: "Authentication Required" } };
    const server = await scriptedServer([denied]);
    let renewals = 0;
    const client = new AnkaClient({
      url: server.url,
      auth: { method: "test", headers: async () => ({}), renew: async () => (renewals++, true) },
    });
    await assert.rejects(client.status(), /Authentication Required/);
    assert.equal(renewals, 1);
    assert.equal(server.seen.length, 2);
    client.close();
    await server.close();
  });
});

describe("the controller URL", () => {
  test("is checked with a message that shows the expected form", () => {
    assert.throws(() => new AnkaClient({ url: "anka:8090" }), /must start with http/);
    assert.throws(
      () => new AnkaClient({ url: "not a url" }),
      /is not a URL.*https:\/\/anka.example.com:8090/,
    );
    assert.throws(() => new AnkaClient({ url: "https://root:pw@ctl" }), /must not contain a user name/);
  });

  test("a path in the URL is dropped: controller paths are absolute", async () => {
    const server = await scriptedServer([OK_STATUS]);
    const client = new AnkaClient({ url: `${server.url}/some/ui/page` });
    await client.status();
    assert.equal(server.seen[0]?.url, "/api/v1/status");
    client.close();
    await server.close();
  });
});
