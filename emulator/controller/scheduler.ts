// Node slots and the queue of requests waiting for one. The controller queues rather than rejects when
// capacity is exhausted, and orders the queue by priority (reference §3, §12.3).
import type { SeedGroup, SeedNode } from "./seed.ts";

export interface NodeState {
  seed: SeedNode;
  /** `${templateId}:${tag}` already on the node's disk. */
  cached: Set<string>;
  /** Slots held by instances, plus any a stuck node never gave back. */
  heldSlots: number;
}

export interface Placement {
  seq: number;
  /** Lower is more urgent. */
  priority: number;
  pinnedNodeId?: string;
  groupId?: string;
  templateId: string;
  tag: string;
}

const cacheKey = (templateId: string, tag: string) => `${templateId}:${tag}`;

export class Scheduler<T extends Placement> {
  readonly nodes: NodeState[];
  private readonly groups: Map<string, SeedGroup>;
  private waiting: T[] = [];

  constructor(nodes: SeedNode[], groups: SeedGroup[]) {
    this.nodes = nodes.map((seed) => ({
      seed,
      cached: new Set(seed.templates.map((cached) => cacheKey(cached.uuid, cached.tag))),
      heldSlots: 0,
    }));
    this.groups = new Map(groups.map((group) => [group.id, group]));
  }

  enqueue(request: T): void {
    this.waiting.push(request);
  }

  /** Returns whether the request was still waiting. */
  withdraw(request: T): boolean {
    const before = this.waiting.length;
    this.waiting = this.waiting.filter((waiting) => waiting !== request);
    return this.waiting.length !== before;
  }

  /**
   * Gives free slots to waiting requests, most urgent first, then in arrival order. A request that
   * fits nowhere does not block less urgent ones that fit elsewhere.
   */
  assignFreeSlots(): Array<{ request: T; node: NodeState }> {
    const assigned: Array<{ request: T; node: NodeState }> = [];
    const queue = [...this.waiting].sort((a, b) => a.priority - b.priority || a.seq - b.seq);
    for (const request of queue) {
      const node = this.pickNode(request);
      if (!node) continue;
      node.heldSlots++;
      this.withdraw(request);
      assigned.push({ request, node });
    }
    return assigned;
  }

  /** `keepSlot`: a stuck node never frees the slot of a terminated instance. */
  release(node: NodeState, keepSlot: boolean): void {
    if (!keepSlot) node.heldSlots = Math.max(0, node.heldSlots - 1);
  }

  hasTemplate(node: NodeState, templateId: string, tag: string): boolean {
    return node.cached.has(cacheKey(templateId, tag));
  }

  cacheTemplate(node: NodeState, templateId: string, tag: string): void {
    node.cached.add(cacheKey(templateId, tag));
  }

  findNode(nodeId: string): NodeState | undefined {
    return this.nodes.find((node) => node.seed.node_id === nodeId);
  }

  /** Prefers nodes that already have the template (no pull), then the emptiest node. */
  private pickNode(request: T): NodeState | undefined {
    for (const tier of this.candidateTiers(request)) {
      const free = tier.filter((node) => node.heldSlots < node.seed.capacity);
      free.sort(
        (a, b) =>
          Number(this.hasTemplate(b, request.templateId, request.tag)) -
            Number(this.hasTemplate(a, request.templateId, request.tag)) ||
          a.heldSlots - a.seed.capacity - (b.heldSlots - b.seed.capacity),
      );
      if (free[0]) return free[0];
    }
    return undefined;
  }

  /** Node sets to try in order: the pinned node, or the group then its fallback groups (reference §6). */
  private candidateTiers(request: T): NodeState[][] {
    const inGroup = (node: NodeState, groupId: string) => node.seed.groups.includes(groupId);
    if (request.pinnedNodeId !== undefined) {
      const groupId = request.groupId;
      return [
        this.nodes.filter(
          (node) =>
            node.seed.node_id === request.pinnedNodeId && (groupId === undefined || inGroup(node, groupId)),
        ),
      ];
    }
    if (request.groupId === undefined) return [this.nodes];
    const tiers: NodeState[][] = [];
    const visited = new Set<string>();
    for (let groupId: string | null | undefined = request.groupId; groupId && !visited.has(groupId);) {
      visited.add(groupId);
      const current: string = groupId;
      tiers.push(this.nodes.filter((node) => inGroup(node, current)));
      groupId = this.groups.get(groupId)?.fallback_group_id;
    }
    return tiers;
  }
}
