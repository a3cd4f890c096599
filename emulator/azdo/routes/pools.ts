// Agent pools (azure-devops.md §6.5): list filtered by name (and pool type), get by id.
import type { Route } from "../router.ts";
import { json, list, queryParam } from "../router.ts";
import { poolJson } from "../views.ts";
import { pathPool } from "./common.ts";

export const poolRoutes: Route[] = [
  {
    method: "GET",
    template: "distributedtask/pools",
    handler: ({ organization, query }) => {
      const name = queryParam(query, "poolName");
      const type = queryParam(query, "poolType");
      // Every emulated pool is a self-hosted "automation" pool; a "deployment" filter finds none.
      const typeMatches = !type || type.toLowerCase() === "automation";
      const pools = organization.pools.filter(
        (pool) => typeMatches && (!name || pool.name.toLowerCase() === name.toLowerCase()),
      );
      return list(pools.map((pool) => poolJson(pool, organization)));
    },
  },
  {
    method: "GET",
    template: "distributedtask/pools/{poolId}",
    handler: (context) => json(200, poolJson(pathPool(context), context.organization)),
  },
];
