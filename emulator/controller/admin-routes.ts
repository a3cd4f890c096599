// Endpoints under /_emulator/ that steer and inspect the emulator; not part of the controller's API.
import type { FaultBook } from "./faults.ts";
import type { InstanceFleet } from "./fleet.ts";
import { routeWith, type Handler } from "./api-routes.ts";
import { jsonReply } from "./reply.ts";
import type { FaultRule, RecordedRequest } from "./types.ts";

export interface AdminContext {
  faults: FaultBook;
  fleet: InstanceFleet;
  requests: RecordedRequest[];
}

export function createAdminRouter({ faults, fleet, requests }: AdminContext): Handler {
  return routeWith({
    "/_emulator/faults": {
      GET: () => jsonReply(200, faults.list()),
      POST: ({ rawBody }) => {
        let rule: FaultRule;
        try {
          rule = withoutNulls(JSON.parse(rawBody)) as FaultRule;
          faults.add(rule);
        } catch (error) {
          return jsonReply(400, { error: (error as Error).message });
        }
        return jsonReply(200, faults.list());
      },
      DELETE: () => {
        faults.clear();
        return jsonReply(200, []);
      },
    },
    "/_emulator/requests": {
      GET: () => jsonReply(200, requests),
      DELETE: () => {
        requests.length = 0;
        return jsonReply(200, []);
      },
    },
    "/_emulator/instances": { GET: () => jsonReply(200, fleet.views()) },
  });
}

/** JSON has no Infinity: `"times": null` (as list() serializes it) means unlimited, like `always`. */
function withoutNulls(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const rule = value as Record<string, unknown>;
  const entries = Object.entries(rule).filter(([, entry]) => entry !== null);
  const cleaned = Object.fromEntries(entries);
  if ("times" in rule && rule.times === null) cleaned.always = true;
  return cleaned;
}
