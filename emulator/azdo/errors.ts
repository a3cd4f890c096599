// Errors the way Azure DevOps answers them: a VssServiceException serialized as JSON with `$id`,
// `message`, `typeName`, `typeKey`, `errorCode` and `eventId` (shape seen in real answers, e.g. the
// AccessDeniedException quoted in MicrosoftDocs/azure-devops-docs#13093). The client side (the agent,
// node-api) maps `typeKey` back to an exception type, so the key is what clients branch on.

const DISTRIBUTED_TASK = "Microsoft.TeamFoundation.DistributedTask.WebApi";
const VSS_WEBAPI = "Microsoft.VisualStudio.Services.WebApi";

export class AzdoError extends Error {
  constructor(
    readonly status: number,
    readonly typeKey: string,
    message: string,
    readonly namespace: string = DISTRIBUTED_TASK,
  ) {
    super(message);
    this.name = typeKey;
  }

  toJSON() {
    return {
      $id: "1",
      innerException: null,
      message: this.message,
      typeName: `${this.namespace}.${this.typeKey}, ${this.namespace}`,
      typeKey: this.typeKey,
      errorCode: 0,
      eventId: 3000,
    };
  }
}

/** Texts of the server's resources (fact 8, decompiled Azure DevOps Server 2022; same words in agent logs). */
export const poolNotFound = (poolId: number | string) =>
  new AzdoError(404, "TaskAgentPoolNotFoundException", `No agent pool found with identifier ${poolId}.`);

export const agentNotFound = (poolId: number, agentId: number | string) =>
  new AzdoError(
    404,
    "TaskAgentNotFoundException",
    `No agent found for pool ${poolId} with identifier ${agentId}.`,
  );

/** Message text as the agent's own "AgentWithSameNameAlreadyExistInPool" string (§2 step 9). */
export const agentExists = (poolName: string, agentName: string) =>
  new AzdoError(
    409,
    "TaskAgentExistsException",
    `Pool ${poolName} already contains an agent with name ${agentName}.`,
  );

export const accessDenied = (who: string, poolName: string) =>
  new AzdoError(
    403,
    "AccessDeniedException",
    `Access denied. ${who} needs Manage permissions for pool ${poolName} to perform the action. ` +
      "For more information, contact the Azure DevOps Server administrator.",
  );

/** azure-pipelines-agent.md §3: "another live session for this agent"; text as seen in agent#720 logs. */
export const sessionConflict = (agentName: string, ownerName: string) =>
  new AzdoError(
    409,
    "TaskAgentSessionConflictException",
    `The task agent ${agentName} already has an active session for owner ${ownerName}.`,
  );

export const sessionExpired = (sessionId: string) =>
  new AzdoError(404, "TaskAgentSessionExpiredException", `The session ${sessionId} has expired.`);

export const jobRequestNotFound = (requestId: number | string) =>
  new AzdoError(404, "TaskAgentJobNotFoundException", `No job request could be found with ID ${requestId}.`);

/**
 * §4 step 4: the server refuses to delete an agent while it runs a job (text as quoted in
 * azure-devops-docs PR #10586). The status code and type key are not documented: 409 is our choice.
 */
export const agentBusy = (agentName: string, poolName: string) =>
  new AzdoError(
    409,
    "TaskAgentJobStillRunningException",
    `Agent "${agentName}" is running a job for pool "${poolName}"`,
  );

export const badRequest = (message: string) => new AzdoError(400, "ArgumentException", message, "System");

export const versionNotSpecified = (method: string) =>
  new AzdoError(
    400,
    "VssVersionNotSpecifiedException",
    `No api-version was supplied for the ${method} request. Please specify an api-version.`,
    VSS_WEBAPI,
  );

export const versionOutOfRange = (requested: string, latest: string) =>
  new AzdoError(
    400,
    "VssVersionOutOfRangeException",
    `The requested REST API version of ${requested} is out of range for this server. ` +
      `The latest REST API version this server supports is ${latest}.`,
    VSS_WEBAPI,
  );

export const routeNotFound = (path: string) =>
  new AzdoError(
    404,
    "VssResourceNotFoundException",
    `The requested resource ${path} was not found.`,
    VSS_WEBAPI,
  );
