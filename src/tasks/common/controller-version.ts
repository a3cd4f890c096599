import * as tl from "azure-pipelines-task-lib/task.js";
import type { AnkaClient } from "../../anka/index.ts";

/**
 * With `System.Debug` on, one GET /api/v1/status and a debug line with the controller's version
 * (controllers differ in ways a user's report must show, e.g. 1.50 shows Scheduling after Pulling).
 * Off by default: the tasks never needed the status, and a pipeline that is not being debugged
 * should not pay a request (with UAK, a handshake) for a line nobody reads. Never fails the task.
 */
export async function debugControllerVersion(anka: AnkaClient): Promise<void> {
  if (tl.getVariable("System.Debug")?.trim().toLowerCase() !== "true") return;
  try {
    const status = await anka.status();
    tl.debug(
      `Anka controller ${anka.url}: version ${status.version ?? "(not given)"}, status ${status.status}, registry ${status.registryStatus ?? "(not given)"}`,
    );
  } catch (error) {
    tl.debug(`Could not read the Anka controller's version from /api/v1/status: ${(error as Error).message}`);
  }
}
