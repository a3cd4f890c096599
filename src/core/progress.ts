import type { Clock } from "../clock.ts";
import type { Instance } from "../anka/index.ts";
import type { Logger } from "./ports.ts";

/**
 * Turns the waiter's polls into a readable log: one line per state change, and pull progress at
 * most once per 10% or once a minute, so a 40-minute pull does not flood the build log.
 */
export class StartProgressReporter {
  private lastState = "";
  private lastDecile = -1;
  private lastLineAt = 0;
  /** Pulled or booting already: a later Scheduling is the VM starting, not the queue (controller >= 1.50). */
  private leftQueue = false;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  report(instance: Instance): void {
    const now = this.clock.now();
    if (instance.state !== this.lastState) {
      this.lastState = instance.state;
      this.lastLineAt = now;
      this.leftQueue ||= instance.state === "Pulling" || instance.vminfo !== undefined;
      this.log.info(describeState(instance, this.leftQueue));
      if (instance.state === "Pulling") this.lastDecile = Math.floor(instance.progress * 10);
      return;
    }
    if (instance.state !== "Pulling") return;
    const decile = Math.floor(instance.progress * 10);
    if (decile > this.lastDecile || now - this.lastLineAt >= 60_000) {
      this.lastDecile = decile;
      this.lastLineAt = now;
      this.log.info(`Pulling the template to the node: ${Math.round(instance.progress * 100)}%`);
    }
  }
}

function describeState(instance: Instance, leftQueue: boolean): string {
  switch (instance.state) {
    case "Scheduling":
      return leftQueue
        ? `Instance ${instance.id} is Scheduling: booting the VM and running the startup script`
        : `Instance ${instance.id} is Scheduling: waiting for a node with a free slot`;
    case "Pulling":
      return `Instance ${instance.id} is Pulling the template to the node: ${Math.round(instance.progress * 100)}%`;
    case "Started":
      return `Instance ${instance.id} is Started on node ${instance.nodeId ?? "?"}${instance.vminfo?.ip ? ` (VM IP ${instance.vminfo.ip})` : ""}`;
    default:
      return `Instance ${instance.id} is ${instance.state}${instance.message ? `: ${instance.message}` : ""}`;
  }
}
