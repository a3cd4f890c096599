// What changes with the emulated controller's version (anka-controller-2026 §3, §6; docs/controller-facts.md,
// section "Anka controller 1.50"). Only differences a client can see in the API are modelled.
import type { SeedNode } from "./seed.ts";

/** The newest release the references describe (1.50.1, 2026-05-28). */
export const DEFAULT_CONTROLLER_VERSION = "1.50.1";
/** The older profile the tests run every flow against: before the 1.47 state fixes and the 1.49/1.50 changes. */
export const OLDER_CONTROLLER_VERSION = "1.44.0";

export interface ControllerBehaviour {
  /** "1.50.1": what /api/v1/status shows before its build suffix. */
  version: string;
  /** 1.50.0: after Pulling the instance shows Scheduling until it has started; before, it stayed Pulling. */
  schedulingAfterPull: boolean;
  /** 1.49.0: an errored instance keeps its vminfo; before, vminfo went `deleted` and lost most fields. */
  errorKeepsVmInfo: boolean;
  /**
   * Whether `progress` goes back to 0 once the pull is over. The older samples (2019 docs, 2022
   * recordings) show 1 on Started and Error instances; the 1.41 and 1.44 samples show 0. Unknown
   * exactly when it changed: we place it with the 1.50 profile and keep 1 before 1.47.
   */
  progressResetAfterPull: boolean;
  /**
   * The message a Started instance may carry. The only sample is 1.44.0's `Unexpected VM state:
   * "stopped"` (the VM stopped for a moment while booting); 1.47.0 fixed instances flashing through
   * wrong states. So before 1.47 a Started instance shows it; from 1.47 it does not.
   */
  startedMessage?: string;
  /**
   * Node ids are whatever `ankacluster join --node-id` was given, so this is not really a version
   * matter: Veertu's EC2 AMIs join with the EC2 instance id (`i-…`). The older profile uses such
   * ids so that every flow also meets a node id that is not a UUID.
   */
  ec2NodeIds: boolean;
}

const VERSION_FORM = /^(\d+)\.(\d+)(?:\.(\d+))?$/;

/** `controllerVersion` as given by config or `--controller-version`: "1.50", "1.50.1" or "1.44.0". */
export function controllerBehaviour(version: string = DEFAULT_CONTROLLER_VERSION): ControllerBehaviour {
  const match = VERSION_FORM.exec(version.trim());
  if (!match) {
    throw new Error(
      `controllerVersion: expected a controller release such as ${DEFAULT_CONTROLLER_VERSION} or ${OLDER_CONTROLLER_VERSION}, got "${version}"`,
    );
  }
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  const atLeast = (wantedMinor: number) => major > 1 || (major === 1 && minor >= wantedMinor);
  return {
    version: `${major}.${minor}.${patch}`,
    schedulingAfterPull: atLeast(50),
    errorKeepsVmInfo: atLeast(49),
    progressResetAfterPull: atLeast(47),
    startedMessage: atLeast(47) ? undefined : 'Unexpected VM state: "stopped"',
    ec2NodeIds: !atLeast(47),
  };
}

/** The status version: the release plus the seed's build suffix, like `1.50.1-4e3c2d9a`. */
export function statusVersion(behaviour: ControllerBehaviour, seedVersion: string): string {
  const suffix = /-([0-9a-f]+)$/i.exec(seedVersion)?.[1] ?? "00000000";
  return `${behaviour.version}-${suffix}`;
}

/** EC2-style node ids (`i-` and 17 hex digits), derived from the seed's ids so that they stay stable. */
export function withEc2NodeIds(nodes: SeedNode[]): SeedNode[] {
  return nodes.map((node) => ({ ...node, node_id: `i-0${node.node_id.replace(/-/g, "").slice(0, 16)}` }));
}
