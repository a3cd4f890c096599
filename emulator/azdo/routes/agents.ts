// Agents of a pool (azure-pipelines-agent.md §2 steps 8-10, §4, §8; azure-devops.md §6.5).
import { requireManage } from "../auth.ts";
import { effectiveCapabilities, toCapabilityMap } from "../capabilities.ts";
import { satisfiesAll } from "../demands.ts";
import { badRequest } from "../errors.ts";
import type { AgentInput } from "../organization.ts";
import type { PublicKey } from "../records.ts";
import type { ApiContext, Route } from "../router.ts";
import { booleanParam, json, list, noContent, queryParam } from "../router.ts";
import { agentJson, type AgentJsonOptions } from "../views.ts";
import { bodyObject, optionalString, pathInt, pathPool } from "./common.ts";

function includeOptions(context: ApiContext): AgentJsonOptions {
  return {
    includeCapabilities: booleanParam(context.query, "includeCapabilities"),
    includeAssignedRequest: booleanParam(context.query, "includeAssignedRequest"),
    includeLastCompletedRequest: booleanParam(context.query, "includeLastCompletedRequest"),
  };
}

/** The TaskAgent body of POST (CreateNewAgent) and PUT (UpdateExistingAgent), §2 step 9. */
function agentInput(context: ApiContext): AgentInput {
  const body = bodyObject(context);
  const name = optionalString(body.name)?.trim();
  if (!name) throw badRequest("Value cannot be null. Parameter name: agent.Name");
  const authorization = body.authorization as { publicKey?: Partial<PublicKey> } | undefined;
  const key = authorization?.publicKey;
  const publicKey =
    typeof key?.exponent === "string" && typeof key.modulus === "string"
      ? { exponent: key.exponent, modulus: key.modulus }
      : undefined;
  const systemCapabilities = toCapabilityMap(body.systemCapabilities);
  const userCapabilities = toCapabilityMap(body.userCapabilities);
  return {
    name,
    version: optionalString(body.version) ?? "",
    osDescription: optionalString(body.osDescription) ?? "",
    maxParallelism: typeof body.maxParallelism === "number" ? body.maxParallelism : 1,
    provisioningState: optionalString(body.provisioningState) ?? "Provisioned",
    ...(typeof body.enabled === "boolean" ? { enabled: body.enabled } : {}),
    ...(publicKey ? { publicKey } : {}),
    ...(systemCapabilities ? { systemCapabilities } : {}),
    ...(userCapabilities ? { userCapabilities } : {}),
  };
}

export const agentRoutes: Route[] = [
  {
    method: "GET",
    template: "distributedtask/pools/{poolId}/agents",
    handler: (context) => {
      const pool = pathPool(context);
      const { organization, query } = context;
      const name = queryParam(query, "agentName");
      const demands = queryParam(query, "demands")
        ?.split(",")
        .map((demand) => demand.trim())
        .filter(Boolean);
      const agents = organization
        .agentsIn(pool.id)
        .filter((agent) => !name || agent.name.toLowerCase() === name.toLowerCase())
        .filter(
          (agent) =>
            !demands?.length ||
            satisfiesAll(effectiveCapabilities(agent.systemCapabilities, agent.userCapabilities), demands),
        );
      const options = includeOptions(context);
      return list(agents.map((agent) => agentJson(agent, organization, context.orgUrl, options)));
    },
  },
  {
    method: "POST",
    template: "distributedtask/pools/{poolId}/agents",
    handler: (context) => {
      const pool = pathPool(context);
      requireManage(context.principal, pool);
      const agent = context.organization.registerAgent(pool, agentInput(context));
      return json(
        200,
        agentJson(agent, context.organization, context.orgUrl, {
          includeCapabilities: true,
          authorizationUrl: authorizationUrlOf(context),
        }),
      );
    },
  },
  {
    method: "GET",
    template: "distributedtask/pools/{poolId}/agents/{agentId}",
    handler: (context) => {
      const pool = pathPool(context);
      const agent = context.organization.agent(pool, pathInt(context, "agentId"));
      return json(200, agentJson(agent, context.organization, context.orgUrl, includeOptions(context)));
    },
  },
  {
    method: "PUT",
    template: "distributedtask/pools/{poolId}/agents/{agentId}",
    handler: (context) => {
      const pool = pathPool(context);
      requireManage(context.principal, pool);
      const agent = context.organization.replaceAgent(pool, pathInt(context, "agentId"), agentInput(context));
      return json(
        200,
        agentJson(agent, context.organization, context.orgUrl, {
          includeCapabilities: true,
          authorizationUrl: authorizationUrlOf(context),
        }),
      );
    },
  },
  {
    method: "PATCH",
    template: "distributedtask/pools/{poolId}/agents/{agentId}",
    handler: (context) => {
      const pool = pathPool(context);
      requireManage(context.principal, pool);
      const body = bodyObject(context);
      const agent = context.organization.updateAgent(pool, pathInt(context, "agentId"), {
        ...(typeof body.enabled === "boolean" ? { enabled: body.enabled } : {}),
        ...(typeof body.maxParallelism === "number" ? { maxParallelism: body.maxParallelism } : {}),
      });
      return json(200, agentJson(agent, context.organization, context.orgUrl, { includeCapabilities: true }));
    },
  },
  {
    method: "DELETE",
    template: "distributedtask/pools/{poolId}/agents/{agentId}",
    handler: (context) => {
      const pool = pathPool(context);
      requireManage(context.principal, pool);
      context.organization.deleteAgent(pool, pathInt(context, "agentId"));
      return noContent();
    },
  },
  {
    // Full replace of the user capabilities (B6, node-api updateAgentUserCapabilities).
    method: "PUT",
    template: "distributedtask/pools/{poolId}/agents/{agentId}/usercapabilities",
    handler: (context) => {
      const pool = pathPool(context);
      const agentId = pathInt(context, "agentId");
      requireManage(context.principal, pool);
      const capabilities = toCapabilityMap(context.body);
      if (!capabilities)
        throw badRequest("The request body must be a JSON object of capability names to values.");
      const agent = context.organization.setUserCapabilities(pool, agentId, capabilities);
      return json(200, agentJson(agent, context.organization, context.orgUrl, { includeCapabilities: true }));
    },
  },
];

/** Where the agent's OAuth client assertion goes (agent-credentials.ts). */
export const authorizationUrlOf = (context: { orgUrl: string }) => `${context.orgUrl}/_apis/oauth2/token`;
