// GET _apis/connectionData: the agent asks it first to learn the deployment type (azure-pipelines-agent.md
// §2 step 3) and every VssConnection repeats it (step 4).
import type { Route } from "../router.ts";
import { json } from "../router.ts";

export const ORGANIZATION_ID = "5e8f3e34-8c43-4b46-a0f4-6d3d2c3b9d10";

export const connectionRoutes: Route[] = [
  {
    method: "GET",
    template: "connectionData",
    handler: ({ principal }) => {
      const user = {
        id: principal.id,
        descriptor: `Microsoft.IdentityModel.Claims.ClaimsIdentity;${principal.id}`,
        subjectDescriptor: `aad.${Buffer.from(principal.id).toString("base64url")}`,
        providerDisplayName: principal.displayName,
        isActive: true,
        properties: {},
        resourceVersion: 2,
        metaTypeId: 0,
      };
      return json(200, {
        authenticatedUser: user,
        authorizedUser: user,
        instanceId: ORGANIZATION_ID,
        deploymentId: ORGANIZATION_ID,
        deploymentType: "hosted",
        locationServiceData: {
          serviceOwner: "00025394-6065-48ca-87d9-7f5672854ef7",
          defaultAccessMappingMoniker: "PublicAccessMapping",
          lastChangeId: 1,
          lastChangeId64: 1,
        },
      });
    },
  },
];
