// Service hooks (issue 14 item 2): Azure DevOps calls a subscriber's URL when a pipeline job's state
// changes (event `ms.vss-pipelines.job-state-changed-event`, publisher `pipelines`, consumer
// "Web Hooks" with optional basic authentication). The payload follows the fields a public
// receiver reads (startup-scripts-and-job-requests.md B5: resource.job{id,name,attempt,state,result,
// startTime,finishTime}, resource.run, resource.pipeline, resource.projectId,
// resourceContainers.account.baseUrl, notificationId). UNVERIFIED against a real organization:
// the exact set of other fields, `resourceVersion`, and whether a retry reuses `notificationId`.
// Deliveries go out one at a time per subscription, in event order, without retries.
import { randomUUID } from "node:crypto";
import type { JobRecord } from "./records.ts";

export const JOB_STATE_CHANGED_EVENT = "ms.vss-pipelines.job-state-changed-event";

export type HookJobState = "waiting" | "inProgress" | "completed";

export interface ServiceHookSubscription {
  url: string;
  /** Basic authentication, as the Web Hooks consumer's "Basic authentication username/password". */
  username?: string;
  password?: string;
}

export interface HookDelivery {
  url: string;
  requestId: number;
  state: HookJobState;
  /** HTTP status of the answer; 0 when the subscriber could not be reached. */
  status: number;
}

const PROJECT_ID = "2d5f2b7c-6c1e-4b1e-9d7e-3f0e1c2a4b5d";

export class ServiceHooks {
  private readonly subscriptions: {
    subscription: ServiceHookSubscription;
    id: string;
    chain: Promise<void>;
  }[] = [];
  private notificationId = 0;
  readonly deliveries: HookDelivery[] = [];

  constructor(private readonly orgUrl: string) {}

  subscribe(subscription: ServiceHookSubscription): void {
    this.subscriptions.push({ subscription, id: randomUUID(), chain: Promise.resolve() });
  }

  unsubscribeAll(): void {
    this.subscriptions.length = 0;
  }

  jobStateChanged(job: JobRecord, state: HookJobState): void {
    for (const entry of this.subscriptions) {
      const body = this.payload(entry.id, job, state);
      entry.chain = entry.chain.then(() => this.deliver(entry.subscription, job.requestId, state, body));
    }
  }

  private async deliver(
    subscription: ServiceHookSubscription,
    requestId: number,
    state: HookJobState,
    body: string,
  ): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
    if (subscription.username !== undefined || subscription.password !== undefined)
      headers.authorization = `Basic ${Buffer.from(`${subscription.username ?? ""}:${subscription.password ?? ""}`).toString("base64")}`;
    let status = 0;
    try {
      const answer = await fetch(subscription.url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(10_000),
      });
      status = answer.status;
      await answer.body?.cancel();
    } catch {
      status = 0;
    }
    this.deliveries.push({ url: subscription.url, requestId, state, status });
  }

  private payload(subscriptionId: string, job: JobRecord, state: HookJobState): string {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const text = `Job ${job.name} ${state === "inProgress" ? "started" : state}.`;
    return JSON.stringify({
      subscriptionId,
      notificationId: ++this.notificationId,
      id: randomUUID(),
      eventType: JOB_STATE_CHANGED_EVENT,
      publisherId: "pipelines",
      message: { text },
      detailedMessage: { text },
      resource: {
        job: {
          id: job.jobId,
          name: job.name,
          attempt: 1,
          state,
          ...(job.result ? { result: job.result } : {}),
          ...(job.assignTime === undefined ? {} : { startTime: iso(job.assignTime) }),
          ...(job.finishTime === undefined ? {} : { finishTime: iso(job.finishTime) }),
        },
        run: { id: job.requestId, name: job.name, state: state === "completed" ? "completed" : "inProgress" },
        pipeline: { id: 1, name: "emulated pipeline" },
        projectId: PROJECT_ID,
      },
      resourceVersion: "5.1-preview.1",
      resourceContainers: {
        project: { id: PROJECT_ID },
        account: { baseUrl: `${this.orgUrl}/` },
      },
      createdDate: new Date().toISOString(),
    });
  }
}
