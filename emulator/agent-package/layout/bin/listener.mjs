// `run.sh [--once]`: the listener of azure-pipelines-agent.md §3. It creates a session with a fresh
// capability scan (the agent is online while it polls), long-polls for messages, "runs" a job by
// sleeping for the duration the emulator put in the message while renewing the job request's lock,
// finishes the request, and with --once stops after that single job, deletes its session and exits 0.
// SIGINT/SIGTERM cancel a running job (reported Canceled) and delete the session too. Run in-process
// (emulator/light-runner.ts), an AbortSignal `stop` takes the place of the signals.
//
// It authenticates with the stored `.credentials` only (see credentials.mjs): no PAT is needed in the
// environment. The real listener's pauses (30 s session retries, 5-15 s after an empty poll, 15-60 s
// error backoff) are scaled down so the emulator's short offline timeout still sees it online.
/* global AbortController, AbortSignal */
import os from "node:os";
import process from "node:process";
import { clearInterval, setInterval } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentServer } from "./agent-server.mjs";
import { scanCapabilities } from "./capabilities.mjs";
import { osDescription } from "./configure.mjs";
import { ListenerCredential } from "./credentials.mjs";
import { ConfigurationError, readAgentSettings } from "./stored-settings.mjs";
import { Terminal } from "./terminal.mjs";

const SESSION_RETRY_MS = 1000;
const SESSION_CONFLICT_LIMIT_MS = 30_000;
const EMPTY_POLL_PAUSE_MS = { min: 50, max: 150 };
const ERROR_BACKOFF_MS = { min: 500, max: 1000 };
const LOCK_RENEW_MS = 60_000;
const JOB_MESSAGE_TYPES = new Set(["PipelineAgentJobRequest", "JobRequest"]);

class FatalError extends Error {}

const randomBetween = ({ min, max }) => min + Math.random() * (max - min);

async function pause(ms, signal) {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // interrupted by shutdown
  }
}

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

export async function run({ files, settings, version, makeHttp, term, proxy, stop }) {
  let agentSettings;
  let credential;
  const http = makeHttp(proxy);
  try {
    agentSettings = readAgentSettings(files);
    credential = new ListenerCredential(files, http);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    term.error(`An error occurred: ${error.message}`);
    return error.exitCode;
  }
  const server = new AgentServer(http, agentSettings.serverUrl, (signal, challenged) =>
    credential.header(signal, challenged),
  );
  const listener = new Listener({
    files,
    agentSettings,
    version,
    server,
    credential,
    term,
    once: settings.flag("once"),
    stop,
  });
  return listener.run();
}

class Listener {
  constructor({ files, agentSettings, version, server, credential, term, once, stop }) {
    Object.assign(this, { files, agentSettings, version, server, credential, term, once, stop });
    this.poolId = agentSettings.poolId;
    this.stopping = new AbortController();
    this.sessionId = undefined;
    this.lastMessageId = undefined;
    this.job = undefined;
    this.acceptedJob = false;
  }

  async run() {
    const onSignal = () => this.shutdown();
    if (this.stop) {
      this.stop.addEventListener("abort", onSignal, { once: true });
      if (this.stop.aborted) this.shutdown();
    } else {
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    }
    let exitCode = 0;
    try {
      await this.createSession();
      if (!this.stopping.signal.aborted) {
        this.term.line(`${Terminal.stamp()}: Listening for Jobs`);
        await this.pollLoop();
      }
      if (this.job) await this.job.done;
    } catch (error) {
      this.term.error(error.message);
      exitCode = 1;
    } finally {
      await this.deleteSession();
      this.stop?.removeEventListener("abort", onSignal);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return exitCode;
  }

  shutdown() {
    if (this.stopping.signal.aborted) return;
    this.term.line("Exiting...");
    this.stopping.abort();
    this.job?.cancel.abort();
  }

  async createSession() {
    this.term.line("Scanning for tool capabilities.");
    const systemCapabilities = scanCapabilities({
      files: this.files,
      agentName: this.agentSettings.agentName,
      version: this.version,
    });
    this.term.line("Connecting to the server.");
    const body = {
      ownerName: os.hostname(),
      agent: {
        id: this.agentSettings.agentId,
        name: this.agentSettings.agentName,
        version: this.version,
        osDescription: osDescription(),
      },
      systemCapabilities,
    };
    const started = Date.now();
    let authRetried = false;
    while (!this.stopping.signal.aborted) {
      try {
        const session = await this.server.createSession(this.poolId, body, this.stopping.signal);
        this.sessionId = session.sessionId;
        return;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        if (error.status === 401 && !authRetried) {
          authRetried = true;
          this.credential.invalidate();
          continue;
        }
        this.failOnFatal(error);
        if (error.typeKey === "TaskAgentSessionConflictException") {
          this.term.error("A session for this agent already exists.");
          const seconds = Math.round((Date.now() - started) / 1000);
          if (Date.now() - started > SESSION_CONFLICT_LIMIT_MS) {
            throw new FatalError(
              `Stop retry on SessionConflictException after retried for ${seconds} seconds.`,
            );
          }
        } else {
          this.term.error(`Failed to create session. ${error.message}`);
        }
        await pause(SESSION_RETRY_MS, this.stopping.signal);
      }
    }
  }

  /** Errors the real listener does not retry (§3). */
  failOnFatal(error) {
    if (error.typeKey === "TaskAgentNotFoundException") {
      throw new FatalError("The agent no longer exists on the server. Please reconfigure the agent.");
    }
    if (error.status === 401 || error.status === 403 || error.typeKey === "TaskAgentPoolNotFoundException") {
      throw new FatalError(error.message);
    }
  }

  async deleteSession() {
    if (!this.sessionId) return;
    const sessionId = this.sessionId;
    this.sessionId = undefined;
    try {
      await this.server.deleteSession(this.poolId, sessionId, AbortSignal.timeout(30_000));
    } catch (error) {
      this.term.error(`Failed to delete the session: ${error.message}`);
    }
  }

  async pollLoop() {
    let authRetried = false;
    while (!this.stopping.signal.aborted) {
      let message;
      try {
        message = await this.server.getMessage(
          this.poolId,
          this.sessionId,
          this.lastMessageId,
          this.stopping.signal,
        );
        authRetried = false;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        if (error.status === 401 && !authRetried) {
          authRetried = true;
          this.credential.invalidate();
          continue;
        }
        if (error.typeKey === "TaskAgentSessionExpiredException") {
          this.sessionId = undefined;
          await this.createSession();
          continue;
        }
        this.failOnFatal(error);
        this.term.error(
          `${Terminal.stamp()}: Agent connect error: ${error.message}. Retrying until reconnected.`,
        );
        await pause(randomBetween(ERROR_BACKOFF_MS), this.stopping.signal);
        continue;
      }
      if (!message) {
        await pause(randomBetween(EMPTY_POLL_PAUSE_MS), this.stopping.signal);
        continue;
      }
      this.lastMessageId = message.messageId;
      await this.handle(message);
    }
  }

  async handle(message) {
    if (JOB_MESSAGE_TYPES.has(message.messageType)) {
      // One job at a time, and with --once only the first: later job messages are left undeleted.
      if (this.job || (this.once && this.acceptedJob)) return;
      this.acceptedJob = true;
      this.startJob(JSON.parse(message.body));
    } else if (message.messageType === "JobCancellation") {
      const { jobId } = JSON.parse(message.body);
      if (this.job && this.job.jobId === jobId) this.job.cancel.abort();
    } else if (message.messageType === "AgentRefresh") {
      this.term.line("The stand-in agent does not update itself; AgentRefresh ignored.");
    }
    try {
      await this.server.deleteMessage(
        this.poolId,
        this.sessionId,
        message.messageId,
        AbortSignal.timeout(30_000),
      );
    } catch (error) {
      this.term.error(`Failed to delete message ${message.messageId}: ${error.message}`);
    }
  }

  startJob(request) {
    const job = {
      requestId: request.requestId,
      jobId: request.jobId,
      lockToken: request.lockToken,
      cancel: new AbortController(),
    };
    job.done = this.executeJob(job, request)
      .catch((error) => this.term.error(`Job ${request.jobDisplayName} failed to report: ${error.message}`))
      .finally(() => {
        this.job = undefined;
      });
    this.job = job;
  }

  async executeJob(job, request) {
    const name = request.jobDisplayName ?? `request ${job.requestId}`;
    this.term.line(`${Terminal.stamp()}: Running job: ${name}`);
    const update = (body) => this.server.updateJobRequest(this.poolId, job.requestId, job.lockToken, body);
    const renew = () =>
      update({}).catch((error) => this.term.error(`Failed to renew the job request lock: ${error.message}`));
    await renew();
    const renewal = setInterval(renew, LOCK_RENEW_MS);
    try {
      await pause(request.emulator?.durationMs ?? 0, job.cancel.signal);
    } finally {
      clearInterval(renewal);
    }
    const result = job.cancel.signal.aborted ? "canceled" : (request.emulator?.result ?? "succeeded");
    // With --once, stop asking for messages before reporting, so no second job is taken on the way out.
    if (this.once) this.stopping.abort();
    await update({ finishTime: new Date().toISOString(), result });
    this.term.line(`${Terminal.stamp()}: Job ${name} completed with result: ${capitalize(result)}`);
  }
}
