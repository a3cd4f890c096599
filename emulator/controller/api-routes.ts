// The controller's REST API (reference §2): one handler per method and path, each returning a Reply.
import { groupView, nodeView, statusView } from "./cluster-views.ts";
import type { InstanceFleet } from "./fleet.ts";
import { FieldReader, parseJsonObject } from "./json-fields.ts";
import type { Registry } from "./registry.ts";
import { ApiFailure, badRequest, failEnvelope, okEnvelope, textReply, type Reply } from "./reply.ts";
import type { EmulatorSeed } from "./seed.ts";
import { parseStartRequest } from "./start-request.ts";
import type { AuthIdentity } from "./types.ts";

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  rawBody: string;
  /** With auth enabled: who the request proved to be (reference §7). */
  identity?: AuthIdentity;
}

export type Handler = (request: ApiRequest) => Reply;
export type RouteTable = Record<string, Partial<Record<string, Handler>>>;

export interface ApiContext {
  fleet: InstanceFleet;
  registry: Registry;
  seed: EmulatorSeed;
  notFoundHttpStatus: number;
  lenientNumbers: boolean;
  nowMs: () => number;
  /** More endpoints, e.g. API keys and the UAK handshake when enabled. */
  extraRoutes?: RouteTable;
}

/** The message two independent clients expect for an unknown instance (reference §4.3). */
const NOT_FOUND = "Not found";

export function createApiRouter(context: ApiContext): Handler {
  const { fleet, registry, seed, notFoundHttpStatus, lenientNumbers, nowMs } = context;
  const notFound = () => new ApiFailure(notFoundHttpStatus, NOT_FOUND);

  const routes: RouteTable = {
    "/api/v1/status": { GET: () => okEnvelope(statusView(seed)) },
    // Kubernetes-style probes, no envelope (reference §2, controller >= 1.41.1).
    "/livez": { GET: () => textReply(200, "ok") },
    "/readyz": { GET: () => textReply(200, "ok") },
    "/api/v1/vm": {
      GET: ({ query }) => {
        const id = query.get("id");
        if (!id) return okEnvelope(fleet.listEntries());
        const instance = fleet.get(id);
        if (!instance) throw notFound();
        return okEnvelope(fleet.view(instance));
      },
      POST: ({ rawBody }) => okEnvelope(fleet.start(parseStartRequest(rawBody, registry, lenientNumbers))),
      PUT: ({ query, rawBody }) => {
        const id = query.get("id");
        if (!id) throw badRequest("Missing instance id");
        const fields = new FieldReader(
          parseJsonObject(rawBody, "UpdateVmRequest"),
          "UpdateVmRequest",
          lenientNumbers,
        );
        const change = {
          name: fields.string("name"),
          externalId: fields.string("external_id"),
          metadata: fields.metadata("metadata"),
        };
        if (!fleet.update(id, change)) throw notFound();
        return okEnvelope();
      },
      // reference §1: DELETE carries its instance id in a JSON body, not in the query.
      DELETE: ({ rawBody }) => {
        const body = rawBody.trim() === "" ? {} : parseJsonObject(rawBody, "TerminateVmRequest");
        const id = new FieldReader(body, "TerminateVmRequest", lenientNumbers).string("id");
        if (!id) throw badRequest('Missing instance id: send a JSON body {"id": "<instance id>"}');
        if (!fleet.terminate(id)) throw notFound();
        return okEnvelope();
      },
    },
    "/api/v1/registry/vm": {
      GET: ({ query }) => {
        const id = query.get("id");
        if (id) return okEnvelope(registry.detailView(id, notFoundHttpStatus));
        return okEnvelope(registry.listView(query.get("apiVer")));
      },
    },
    "/api/v1/group": { GET: () => okEnvelope(seed.groups.map(groupView)) },
    "/api/v1/node": {
      // reference §6: ?id= also answers with an array (of one).
      GET: ({ query }) => {
        const id = query.get("id");
        const nodes = fleet.scheduler.nodes.filter((node) => !id || node.seed.node_id === id);
        if (id && nodes.length === 0) throw notFound();
        return okEnvelope(nodes.map((node) => nodeView(node, seed, fleet, registry, nowMs())));
      },
    },
  };

  return routeWith({ ...routes, ...context.extraRoutes });
}

/** Dispatches by path then method; ApiFailure becomes a FAIL envelope with its HTTP code. */
export function routeWith(routes: RouteTable): Handler {
  return (request) => {
    const methods = routes[request.path];
    // Go's net/http text for an unknown path, wrapped in the envelope clients parse.
    if (!methods) return failEnvelope(404, "404 page not found");
    const handler = methods[request.method];
    if (!handler) {
      return {
        ...failEnvelope(405, "Method Not Allowed"),
        headers: { Allow: Object.keys(methods).join(", ") },
      };
    }
    try {
      return handler(request);
    } catch (error) {
      if (error instanceof ApiFailure) return failEnvelope(error.httpStatus, error.message);
      throw error;
    }
  };
}
