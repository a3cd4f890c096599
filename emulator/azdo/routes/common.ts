// Helpers shared by the route modules: path parameters to records, body fields to values.
import { requireRead } from "../auth.ts";
import { badRequest, poolNotFound } from "../errors.ts";
import type { PoolRecord } from "../records.ts";
import type { ApiContext } from "../router.ts";

/** The pool named by `{poolId}`, readable by the caller; unknown ids are 404 TaskAgentPoolNotFoundException. */
export function pathPool(context: ApiContext): PoolRecord {
  const raw = context.params.poolId ?? "";
  const pool = /^\d+$/.test(raw) ? context.organization.poolById(Number(raw)) : undefined;
  if (!pool) throw poolNotFound(raw);
  requireRead(context.principal, pool);
  return pool;
}

export function pathInt(context: ApiContext, name: string): number {
  const raw = context.params[name] ?? "";
  if (!/^\d+$/.test(raw)) throw badRequest(`The value '${raw}' is not valid for ${name}.`);
  return Number(raw);
}

export function bodyObject(context: ApiContext): Record<string, unknown> {
  const body = context.body;
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest("The request body is missing or is not a JSON object.");
  }
  return body as Record<string, unknown>;
}

export const optionalString = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;
