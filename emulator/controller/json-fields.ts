// Reads typed fields from a JSON request body the way the controller (a Go service) would:
// null counts as absent, a value of the wrong JSON type is rejected with Go's encoding/json text,
// which names the field (reference §3: int fields are JSON numbers).
import type { MetadataValue } from "./api-shapes.ts";
import { badRequest } from "./reply.ts";

export type JsonObject = Record<string, unknown>;

/** Parses a request body that must be a JSON object; `structName` appears in Go-style errors. */
export function parseJsonObject(raw: string, structName: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw badRequest(`invalid JSON body: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`json: cannot unmarshal ${goKindOf(value)} into Go value of type ${structName}`);
  }
  return value as JsonObject;
}

export class FieldReader {
  constructor(
    private readonly body: JsonObject,
    private readonly structName: string,
    private readonly lenientNumbers: boolean,
  ) {}

  string(field: string): string | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw this.typeError(field, value, "string");
    return value;
  }

  bool(field: string): boolean | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") throw this.typeError(field, value, "bool");
    return value;
  }

  int(field: string): number | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    if (this.lenientNumbers && typeof value === "string" && /^-?\d{1,15}$/.test(value)) return Number(value);
    throw this.typeError(field, value, "int");
  }

  /** Metadata values are strings, numbers or booleans (reference §3). */
  metadata(field: string): Record<string, MetadataValue> | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "object" || Array.isArray(value)) {
      throw this.typeError(field, value, "map[string]interface {}");
    }
    const entries = Object.entries(value as JsonObject);
    for (const [key, entry] of entries) {
      if (!["string", "number", "boolean"].includes(typeof entry)) {
        throw badRequest(`${field}: value of "${key}" must be a string, a number or a boolean`);
      }
    }
    return Object.fromEntries(entries) as Record<string, MetadataValue>;
  }

  private typeError(field: string, value: unknown, goType: string): Error {
    return badRequest(
      `json: cannot unmarshal ${goKindOf(value, goType)} into Go struct field ${this.structName}.${field} of type ${goType}`,
    );
  }
}

/** Go's UnmarshalTypeError.Value: "number 1.5" for a non-integer aimed at an int, else the JSON kind. */
function goKindOf(value: unknown, goType?: string): string {
  if (typeof value === "number") return goType === "int" ? `number ${value}` : "number";
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  return typeof value === "boolean" ? "bool" : typeof value;
}
