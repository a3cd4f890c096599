// Listener sessions and messages (azure-pipelines-agent.md §3). A session is created by the agent's own
// OAuth identity or by a pool manager; a caller with read-only rights gets 403 like any other write.
import { requireAgentOrManage } from "../auth.ts";
import { toCapabilityMap } from "../capabilities.ts";
import { badRequest } from "../errors.ts";
import type { Route } from "../router.ts";
import { json, noContent, queryParam } from "../router.ts";
import { sessionJson } from "../views.ts";
import { bodyObject, optionalString, pathInt, pathPool } from "./common.ts";

export interface SessionRouteSettings {
  /** How long an empty GET messages is held open. */
  longPollMs: number;
}

export function sessionRoutes(settings: SessionRouteSettings): Route[] {
  return [
    {
      method: "POST",
      template: "distributedtask/pools/{poolId}/sessions",
      handler: (context) => {
        const pool = pathPool(context);
        const body = bodyObject(context);
        const agentRef = (body.agent ?? {}) as Record<string, unknown>;
        if (typeof agentRef.id !== "number")
          throw badRequest("Value cannot be null. Parameter name: session.Agent");
        requireAgentOrManage(context.principal, pool, agentRef.id);
        const systemCapabilities = toCapabilityMap(body.systemCapabilities);
        const version = optionalString(agentRef.version);
        const osDescription = optionalString(agentRef.osDescription);
        const session = context.organization.createSession(
          pool,
          agentRef.id,
          optionalString(body.ownerName) ?? "unknown",
          {
            ...(systemCapabilities ? { systemCapabilities } : {}),
            ...(version ? { version } : {}),
            ...(osDescription ? { osDescription } : {}),
          },
        );
        const agent = context.organization.agent(pool, agentRef.id);
        return json(200, sessionJson(session, agent, context.organization));
      },
    },
    {
      method: "DELETE",
      template: "distributedtask/pools/{poolId}/sessions/{sessionId}",
      handler: (context) => {
        const pool = pathPool(context);
        const session = context.organization.session(pool, context.params.sessionId ?? "");
        requireAgentOrManage(context.principal, pool, session.agentId);
        context.organization.deleteSession(pool, session.sessionId);
        return noContent();
      },
    },
    {
      method: "GET",
      template: "distributedtask/pools/{poolId}/messages",
      handler: async (context) => {
        const pool = pathPool(context);
        const session = context.organization.session(pool, queryParam(context.query, "sessionId") ?? "");
        requireAgentOrManage(context.principal, pool, session.agentId);
        const lastText = queryParam(context.query, "lastMessageId");
        const lastMessageId = lastText && /^\d+$/.test(lastText) ? Number(lastText) : undefined;
        const message = await context.organization.pollMessage(
          session,
          lastMessageId,
          settings.longPollMs,
          context.signal,
        );
        // No message within the long poll: 202 with no body (the status code is not in the references;
        // the agent treats any empty answer as "nothing yet").
        if (!message) return { status: 202 };
        return json(200, {
          messageId: message.messageId,
          messageType: message.messageType,
          body: message.body,
        });
      },
    },
    {
      method: "DELETE",
      template: "distributedtask/pools/{poolId}/messages/{messageId}",
      handler: (context) => {
        const pool = pathPool(context);
        const session = context.organization.session(pool, queryParam(context.query, "sessionId") ?? "");
        requireAgentOrManage(context.principal, pool, session.agentId);
        context.organization.deleteMessage(session, pathInt(context, "messageId"));
        return noContent();
      },
    },
  ];
}
