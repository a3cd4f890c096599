// What the emulated organization stores. Wire shapes are built from these in views.ts.
import type { JobResult } from "./types.ts";

export interface PoolRecord {
  id: number;
  name: string;
  createdOn: number;
}

/** RSA public key as the agent sends it: base64 byte arrays (azure-pipelines-agent.md §2 "Wire format"). */
export interface PublicKey {
  exponent: string;
  modulus: string;
}

export interface AgentRecord {
  id: number;
  poolId: number;
  name: string;
  version: string;
  osDescription: string;
  enabled: boolean;
  maxParallelism: number;
  provisioningState: string;
  createdOn: number;
  statusChangedOn: number;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  publicKey?: PublicKey;
  /** OAuth client id issued at registration (§2 step 10); the listener authenticates with it. */
  clientId: string;
  assignedRequestId?: number;
  lastCompletedRequestId?: number;
}

export interface SessionRecord {
  sessionId: string;
  poolId: number;
  agentId: number;
  ownerName: string;
  createdAt: number;
  /** Creation or the end of the latest poll. */
  lastSeenAt: number;
  /** Long polls currently held open: a session with one is alive whatever its age. */
  pollsInFlight: number;
}

export interface JobRecord {
  requestId: number;
  poolId: number;
  name: string;
  demands: string[];
  durationMs: number;
  /** What the stand-in agent reports when it finishes. */
  plannedResult: "succeeded" | "failed";
  planId: string;
  jobId: string;
  lockToken: string;
  queueTime: number;
  assignTime?: number;
  receiveTime?: number;
  /**
   * The agent took the job: it deleted the job message or renewed the lock. A job handed out on a
   * poll but never taken (a --once agent on its way out) goes back to the queue when the session ends.
   */
  acknowledged?: boolean;
  finishTime?: number;
  lockedUntil?: number;
  result?: JobResult;
  statusMessage?: string;
  reservedAgentId?: number;
  reservedAgentName?: string;
}

export interface AgentMessage {
  messageId: number;
  messageType: string;
  /** JSON text: the service sends message bodies as strings (plain, since sessions carry no encryptionKey). */
  body: string;
  /** The job this message dispatches, if any. */
  requestId?: number;
}
