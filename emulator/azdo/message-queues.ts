// Per-agent message queues with long-poll waiters. azure-pipelines-agent.md §3 (KeepAlive): the
// listener polls a second time concurrently and discards that answer, so a message is handed out
// until the agent DELETEs it, never just once.
import type { AgentMessage } from "./records.ts";

export class MessageQueues {
  private readonly queues = new Map<number, AgentMessage[]>();
  private readonly waiters = new Map<number, Set<() => void>>();
  private lastMessageId = 0;

  push(agentId: number, message: Omit<AgentMessage, "messageId">): AgentMessage {
    const stored = { ...message, messageId: ++this.lastMessageId };
    this.queueOf(agentId).push(stored);
    this.wake(agentId);
    return stored;
  }

  /** The oldest message not yet deleted, after `lastMessageId` when the agent sends one. */
  next(agentId: number, lastMessageId?: number): AgentMessage | undefined {
    return this.queueOf(agentId).find(
      (message) => lastMessageId === undefined || message.messageId > lastMessageId,
    );
  }

  find(agentId: number, messageId: number): AgentMessage | undefined {
    return this.queueOf(agentId).find((message) => message.messageId === messageId);
  }

  remove(agentId: number, messageId: number): boolean {
    const queue = this.queueOf(agentId);
    const index = queue.findIndex((message) => message.messageId === messageId);
    if (index < 0) return false;
    queue.splice(index, 1);
    return true;
  }

  removeWhere(agentId: number, predicate: (message: AgentMessage) => boolean): void {
    this.queues.set(
      agentId,
      this.queueOf(agentId).filter((message) => !predicate(message)),
    );
  }

  drop(agentId: number): void {
    this.queues.delete(agentId);
    this.wake(agentId);
  }

  /** Resolves when a message arrives for the agent, after `ms`, or when `signal` aborts. */
  waitFor(agentId: number, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(agentId) ?? new Set();
      this.waiters.set(agentId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      if (signal.aborted) done();
      else signal.addEventListener("abort", done, { once: true });
    });
  }

  private wake(agentId: number): void {
    for (const waiter of [...(this.waiters.get(agentId) ?? [])]) waiter();
  }

  private queueOf(agentId: number): AgentMessage[] {
    let queue = this.queues.get(agentId);
    if (!queue) {
      queue = [];
      this.queues.set(agentId, queue);
    }
    return queue;
  }
}
