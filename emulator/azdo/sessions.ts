// Agent sessions. azure-pipelines-agent.md §3: the agent sends no status call; "online" is a live
// session that keeps polling, and a session nobody polls any more is expired by the server after a
// delay (a SIGKILLed VM leaves its session behind until then).
import { randomUUID } from "node:crypto";
import type { SessionRecord } from "./records.ts";

export class SessionTable {
  private readonly sessions = new Map<string, SessionRecord>();

  constructor(private readonly offlineAfterMs: number) {}

  create(poolId: number, agentId: number, ownerName: string, now: number): SessionRecord {
    const session: SessionRecord = {
      sessionId: randomUUID(),
      poolId,
      agentId,
      ownerName,
      createdAt: now,
      lastSeenAt: now,
      pollsInFlight: 0,
    };
    this.sessions.set(session.sessionId, session);
    return session;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.sessions.get(sessionId);
  }

  delete(sessionId: string): SessionRecord | undefined {
    const session = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    return session;
  }

  forAgent(agentId: number): SessionRecord | undefined {
    for (const session of this.sessions.values()) if (session.agentId === agentId) return session;
    return undefined;
  }

  isLive(session: SessionRecord, now: number): boolean {
    return session.pollsInFlight > 0 || now - session.lastSeenAt <= this.offlineAfterMs;
  }

  /** Removes and returns the sessions that stopped polling longer than offlineAfterMs ago. */
  expireStale(now: number): SessionRecord[] {
    const stale = [...this.sessions.values()].filter((session) => !this.isLive(session, now));
    for (const session of stale) this.sessions.delete(session.sessionId);
    return stale;
  }

  deleteForAgent(agentId: number): void {
    for (const session of [...this.sessions.values()]) {
      if (session.agentId === agentId) this.sessions.delete(session.sessionId);
    }
  }
}
