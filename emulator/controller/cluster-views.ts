// Bodies of GET /api/v1/status, /api/v1/group and /api/v1/node (reference §6).
import type { InstanceFleet } from "./fleet.ts";
import { rfc3339Nano } from "./ids.ts";
import type { Registry } from "./registry.ts";
import type { NodeState } from "./scheduler.ts";
import type { EmulatorSeed, SeedGroup } from "./seed.ts";

export function statusView(seed: EmulatorSeed) {
  return {
    status: "Running",
    version: seed.controller.version,
    registry_address: seed.controller.registry_address,
    registry_status: "Running",
    license: seed.controller.license,
  };
}

export function groupView(group: SeedGroup) {
  return {
    id: group.id,
    name: group.name,
    description: group.description,
    fallback_group_id: group.fallback_group_id,
  };
}

export function nodeView(
  node: NodeState,
  seed: EmulatorSeed,
  fleet: InstanceFleet,
  registry: Registry,
  nowMs: number,
) {
  const { seed: config } = node;
  const vms = fleet.vmsOn(node);
  const vcpuCount = vms.reduce((sum, vm) => sum + vm.cpu_cores, 0);
  const vramMb = vms.reduce((sum, vm) => sum + ramMegabytes(vm.ram), 0);
  const cachedTemplates = [...node.cached].map((key) => {
    const [uuid = "", tag = ""] = key.split(":");
    const template = registry.find(uuid);
    const version = template?.versions.find((candidate) => candidate.tag === tag);
    return { uuid, name: template?.name ?? "", tag, size: version?.size ?? 0 };
  });
  const diskUsage = cachedTemplates.reduce((sum, cached) => sum + cached.size, 0);
  const now = rfc3339Nano(nowMs);
  return {
    node_id: config.node_id,
    node_name: config.node_name,
    cpu_count: config.cpu_count,
    ram: config.ram,
    vm_count: node.heldSlots,
    vcpu_count: vcpuCount,
    vram: vramMb,
    cpu_util: round(Math.min(1, vcpuCount / config.cpu_count)),
    ram_util: round(Math.min(1, vramMb / (config.ram * 1024))),
    ip_address: config.ip_address,
    state: "Active",
    capacity: config.capacity,
    capacity_mode: "number",
    groups: seed.groups.filter((group) => config.groups.includes(group.id)).map(groupView),
    anka_version: config.anka_version,
    host_arch: config.host_arch,
    templates: cachedTemplates.map(({ uuid, name, tag }) => ({ uuid, name, tag })),
    disk_size: config.disk_size,
    free_disk_space: Math.max(0, config.disk_size - diskUsage),
    anka_disk_usage: diskUsage,
    last_updated: now,
    // anka-controller-2026 §4: a node's timestamp is epoch seconds, unlike vminfo.timestamp.
    timestamp: Math.floor(nowMs / 1000),
    agent_version: seed.controller.version,
  };
}

function ramMegabytes(ram: string): number {
  const match = /^(\d+)([GM])$/.exec(ram);
  if (!match) return 0;
  return Number(match[1]) * (match[2] === "G" ? 1024 : 1);
}

const round = (value: number) => Math.round(value * 100) / 100;
