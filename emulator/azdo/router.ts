// A small route table for `<org>/_apis/...` paths: templates like `distributedtask/pools/{poolId}`,
// matched case-insensitively (the service's routing is case-insensitive) with an optional trailing slash.
import type { Principal } from "./auth.ts";
import type { Organization } from "./organization.ts";

export interface Reply {
  status: number;
  json?: unknown;
  /** A text/html body instead of JSON (the sign-in page). */
  html?: string;
  headers?: Record<string, string>;
}

export interface ApiContext {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  principal: Principal;
  organization: Organization;
  /** http://HOST:PORT */
  origin: string;
  /** http://HOST:PORT/<org> */
  orgUrl: string;
  /** Aborts when the client goes away or the emulator closes. */
  signal: AbortSignal;
}

export type Handler = (context: ApiContext) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  template: string;
  handler: Handler;
}

interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: Route[]) {
    this.routes = routes.map((route) => {
      const names: string[] = [];
      const source = route.template
        .split("/")
        .map((segment) => {
          const name = /^\{(\w+)\}$/.exec(segment)?.[1];
          if (name) {
            names.push(name);
            return "([^/]+)";
          }
          return segment.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
        })
        .join("/");
      return { ...route, names, pattern: new RegExp(`^${source}/?$`, "i") };
    });
  }

  /** The matching route and its parameters; `methodMismatch` when the path exists for another method. */
  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | "methodMismatch" | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (!found) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1] ?? "")));
      return { route, params };
    }
    return pathMatched ? "methodMismatch" : undefined;
  }
}

/** Query parameters bind case-insensitively, as in ASP.NET. */
export function queryParam(query: URLSearchParams, ...names: string[]): string | undefined {
  for (const name of names) {
    for (const [key, value] of query) if (key.toLowerCase() === name.toLowerCase()) return value;
  }
  return undefined;
}

export function booleanParam(query: URLSearchParams, name: string): boolean {
  return queryParam(query, name)?.toLowerCase() === "true";
}

export const json = (status: number, value: unknown): Reply => ({ status, json: value });
export const noContent = (): Reply => ({ status: 204 });
/** `{count, value}` list envelope of the REST API. */
export const list = (value: unknown[]): Reply => json(200, { count: value.length, value });
