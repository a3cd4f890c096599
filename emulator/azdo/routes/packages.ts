// Agent packages API in both forms of azure-pipelines-agent.md §7: the client route with the platform
// as a path segment (`packages/agent/osx-arm64?$top=1`, optionally `/<version>`), and the form public
// scripts use (`packages/agent?platform=osx-arm64&top=1`).
import type { AgentTarball, PackageQuery } from "../packages.ts";
import { listPackages } from "../packages.ts";
import type { ApiContext, Route } from "../router.ts";
import { json, queryParam } from "../router.ts";

export interface PackageRouteSettings {
  agentVersion: string;
  tarball: () => AgentTarball;
  createdOn: string;
}

export function packageRoutes(settings: PackageRouteSettings): Route[] {
  const answer = (context: ApiContext) => {
    const topText = queryParam(context.query, "$top", "top");
    const query: PackageQuery = {
      type: context.params.packageType ?? "agent",
      ...(context.params.platform || queryParam(context.query, "platform")
        ? { platform: context.params.platform ?? (queryParam(context.query, "platform") as string) }
        : {}),
      ...(context.params.version ? { version: context.params.version } : {}),
      ...(topText && /^\d+$/.test(topText) ? { top: Number(topText) } : {}),
    };
    return json(
      200,
      listPackages(query, {
        version: settings.agentVersion,
        origin: context.origin,
        tarball: settings.tarball(),
        createdOn: settings.createdOn,
      }),
    );
  };
  return [
    { method: "GET", template: "distributedtask/packages/{packageType}", handler: answer },
    { method: "GET", template: "distributedtask/packages/{packageType}/{platform}", handler: answer },
    {
      method: "GET",
      template: "distributedtask/packages/{packageType}/{platform}/{version}",
      handler: answer,
    },
  ];
}
