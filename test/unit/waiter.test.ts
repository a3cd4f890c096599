import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ControllerFailError,
  InstanceFailedError,
  InstanceWaitTimeoutError,
  waitForInstance,
  type Instance,
} from "../../src/anka/index.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

const at = (state: string, extra: Partial<Instance> = {}): Instance => ({
  id: "i-1",
  state,
  templateId: "t",
  progress: 0,
  ...extra,
});

/** A stand-in for the client's getInstance that plays a list of answers, the last one repeating. */
function sequence(answers: (Instance | Error)[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    async getInstance(): Promise<Instance> {
      const answer = answers[Math.min(calls++, answers.length - 1)] as Instance | Error;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

describe("waitForInstance", () => {
  test("returns the Started instance and reports every poll", async () => {
    const client = sequence([
      at("Scheduling"),
      at("Pulling", { progress: 0.5 }),
      at("Scheduling"),
      at("Started"),
    ]);
    const seen: string[] = [];
    const clock = new FakeClock();
    const instance = await waitForInstance(client, "i-1", {
      timeoutMs: 60_000,
      pollIntervalMs: 1000,
      clock,
      onPoll: (i) => seen.push(`${i.state}:${i.progress}`),
    });
    assert.equal(instance.state, "Started");
    assert.deepEqual(seen, ["Scheduling:0", "Pulling:0.5", "Scheduling:0", "Started:0"]);
    // A sleep before every poll (the first answer is always Scheduling); the state changed at every poll: no backoff.
    assert.deepEqual(clock.sleeps, [1000, 1000, 1000, 1000]);
  });

  test("backs off once nothing has changed for a while, and comes back to the base interval on a change", async () => {
    const queued = Array.from({ length: 7 }, () => at("Scheduling"));
    const client = sequence([...queued, at("Pulling", { progress: 0.1 }), at("Started")]);
    const clock = new FakeClock();
    await waitForInstance(client, "i-1", {
      timeoutMs: 600_000,
      pollIntervalMs: 1000,
      backoffAfterMs: 2500,
      backoffFactor: 2,
      maxPollIntervalMs: 5000,
      clock,
    });
    // Unchanged since the first answer (t=1 s): base interval until 2.5 s have passed, then x2 up to 5 s.
    assert.deepEqual(clock.sleeps, [1000, 1000, 1000, 1000, 2000, 4000, 5000, 5000, 1000]);
  });

  test("a normal start never backs off: Started is noticed within one interval", async () => {
    const client = sequence([...Array.from({ length: 20 }, () => at("Scheduling")), at("Started")]);
    const clock = new FakeClock();
    await waitForInstance(client, "i-1", { timeoutMs: 600_000, pollIntervalMs: 1000, clock });
    assert.ok(clock.sleeps.every((ms) => ms === 1000));
  });

  test("fails at once on Error, with the tail of the startup script's stderr", async () => {
    const stderr = Array.from({ length: 30 }, (_, n) => `line ${n + 1}`).join("\n") + "\n";
    const client = sequence([
      at("Scheduling"),
      at("Error", {
        message: "startup script exit code 3",
        startupScript: { returnCode: 3, didTimeout: false, stdout: "", stderr, errors: [] },
      }),
    ]);
    await assert.rejects(
      waitForInstance(client, "i-1", { timeoutMs: 60_000, pollIntervalMs: 1000, clock: new FakeClock() }),
      (e: unknown) => {
        assert.ok(e instanceof InstanceFailedError);
        assert.match(e.message, /startup script of instance i-1 exited with code 3/);
        assert.match(e.message, /line 30$/);
        assert.match(e.message, /line 11\n/);
        assert.doesNotMatch(e.message, /line 10\n/);
        return true;
      },
    );
    assert.equal(client.calls, 2);
  });

  test("a script timeout says so", async () => {
    const client = sequence([
      at("Error", {
        startupScript: { returnCode: -1, didTimeout: true, stdout: "waiting\n", stderr: "", errors: [] },
      }),
    ]);
    await assert.rejects(
      waitForInstance(client, "i-1", { timeoutMs: 1000, pollIntervalMs: 100, clock: new FakeClock() }),
      /timed out\. Its last output:\nwaiting/,
    );
  });

  for (const state of ["Stopping", "Stopped", "Terminating", "Terminated"]) {
    test(`${state} is a failure`, async () => {
      const client = sequence([at(state, { message: "instance terminated by controller" })]);
      await assert.rejects(
        waitForInstance(client, "i-1", { timeoutMs: 1000, pollIntervalMs: 100, clock: new FakeClock() }),
        new RegExp(`went to ${state}: instance terminated by controller`),
      );
    });
  }

  test("an unknown state is pending, bounded by the timeout; the message names the last state", async () => {
    const client = sequence([at("Deploying")]);
    const clock = new FakeClock();
    await assert.rejects(
      waitForInstance(client, "i-1", { timeoutMs: 30 * 60_000, pollIntervalMs: 5000, clock }),
      (e: unknown) => {
        assert.ok(e instanceof InstanceWaitTimeoutError);
        assert.match(e.message, /not Started within 30 min; last state: Deploying/);
        return true;
      },
    );
    assert.equal(
      clock.sleeps.reduce((a, b) => a + b, 0),
      30 * 60_000,
    );
  });

  test("stuck in Scheduling: the timeout message explains the queue", async () => {
    const client = sequence([at("Scheduling")]);
    await assert.rejects(
      waitForInstance(client, "i-1", { timeoutMs: 10_000, pollIntervalMs: 1000, clock: new FakeClock() }),
      /waiting for a free slot/,
    );
  });

  test("a transient controller error does not end the wait", async () => {
    const outage = new ControllerFailError({ method: "GET", url: "u" }, 503, "FAIL", "overloaded");
    const client = sequence([at("Scheduling"), outage, outage, at("Started")]);
    const transient: string[] = [];
    const instance = await waitForInstance(client, "i-1", {
      timeoutMs: 60_000,
      pollIntervalMs: 100,
      clock: new FakeClock(),
      onTransientError: (e) => transient.push(e.message),
    });
    assert.equal(instance.state, "Started");
    assert.equal(transient.length, 2);
  });

  test("an instance that disappears is reported as terminated by someone else", async () => {
    const client = sequence([
      at("Scheduling"),
      new ControllerFailError({ method: "GET", url: "u" }, 404, "FAIL", "Not found"),
    ]);
    await assert.rejects(
      waitForInstance(client, "i-1", { timeoutMs: 60_000, pollIntervalMs: 100, clock: new FakeClock() }),
      /disappeared from the controller/,
    );
  });

  test("an abort signal stops the wait", async () => {
    const client = sequence([at("Scheduling")]);
    const controller = new AbortController();
    controller.abort(new Error("cancelled by the agent"));
    await assert.rejects(
      waitForInstance(client, "i-1", {
        timeoutMs: 60_000,
        pollIntervalMs: 100,
        clock: new FakeClock(),
        signal: controller.signal,
      }),
      /cancelled by the agent/,
    );
    assert.equal(client.calls, 0);
  });
});
