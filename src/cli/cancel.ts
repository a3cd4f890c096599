import type { Output } from "./output.ts";

/**
 * SIGINT (Ctrl-C) and SIGTERM abort the running command, as the agent cancels a task: `start`
 * rolls back what it started (the core does it on the abort), the others stop. Later signals are
 * acknowledged and do not interrupt the rollback; it is bounded in time by the core.
 */
export class Cancellation {
  private readonly controller = new AbortController();
  private readonly handler = (signal: NodeJS.Signals) => this.onSignal(signal);

  constructor(private readonly output: Output) {
    process.on("SIGINT", this.handler);
    process.on("SIGTERM", this.handler);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** A signal ended the command early (a service told to stop is not cancelled: see stopsOnSignal). */
  get cancelled(): boolean {
    return this.controller.signal.aborted && !this.signalMeansStop;
  }

  private signalMeansStop = false;

  /** For long-running commands (`pool serve`): a signal is the normal way to stop, exit 0. */
  stopsOnSignal(): void {
    this.signalMeansStop = true;
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.signalMeansStop) {
      if (!this.controller.signal.aborted)
        this.output.warn(`Received ${signal}: stopping (running jobs are left alone)`);
      this.controller.abort(new Error(`stopped by ${signal}`));
      return;
    }
    if (this.controller.signal.aborted) {
      this.output.warn(`Received ${signal} again: still rolling back, please wait`);
      return;
    }
    this.output.warn(`Received ${signal}: cancelling (whatever was started is rolled back)`);
    this.controller.abort(new Error(`cancelled by ${signal}`));
  }

  dispose(): void {
    process.off("SIGINT", this.handler);
    process.off("SIGTERM", this.handler);
  }
}

/** Runs `work`, but gives up waiting for it as soon as the signal aborts (commands with nothing to roll back). */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
