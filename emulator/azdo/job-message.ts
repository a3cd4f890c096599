// Body of the PipelineAgentJobRequest message a listener receives (azure-pipelines-agent.md §3
// "Message handling"). Only the fields a listener needs to run and finish the request are real
// (plan, timeline, jobId, jobDisplayName, requestId, lockToken, SystemVssConnection URL); the stand-in
// agent's instructions travel in an extra `emulator` object that no real message carries.
import type { JobRecord } from "./records.ts";

export function jobMessageBody(job: JobRecord, orgUrl: string) {
  const collectionUri = `${orgUrl}/`;
  return {
    messageType: "PipelineAgentJobRequest",
    plan: {
      scopeIdentifier: "00000000-0000-0000-0000-000000000000",
      planType: "Build",
      version: 1,
      planId: job.planId,
    },
    timeline: { id: job.planId },
    jobId: job.jobId,
    jobDisplayName: job.name,
    jobName: job.name.replace(/[^A-Za-z0-9_]/g, "_"),
    requestId: job.requestId,
    lockToken: job.lockToken,
    lockedUntil: "0001-01-01T00:00:00",
    resources: { endpoints: [{ name: "SystemVssConnection", url: collectionUri }] },
    variables: {
      "system.collectionUri": { value: collectionUri },
      "system.teamFoundationCollectionUri": { value: collectionUri },
    },
    steps: [],
    emulator: { durationMs: job.durationMs, result: job.plannedResult },
  };
}
