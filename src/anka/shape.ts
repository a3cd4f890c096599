/**
 * A small reader for JSON answers: every accessor names the field it failed on, so a controller
 * that changed shape gives "vminfo.ip: expected a string, got 42" instead of a crash far away.
 * `null` counts as absent everywhere: real list wrappers send `"name": null` (reference §4.2).
 */
export class ShapeProblem extends Error {}

export type JsonObject = Record<string, unknown>;

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string")
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

export function asObject(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ShapeProblem(`${path || "body"}: expected an object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

export function asArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value))
    throw new ShapeProblem(`${path || "body"}: expected an array, got ${describe(value)}`);
  return value;
}

export class Reader {
  constructor(
    private readonly object: JsonObject,
    private readonly path: string,
  ) {}

  static of(value: unknown, path = ""): Reader {
    return new Reader(asObject(value, path), path);
  }

  private name(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  private present(key: string): unknown {
    const value = this.object[key];
    return value === null ? undefined : value;
  }

  string(key: string): string {
    const value = this.optionalString(key);
    if (value === undefined) throw new ShapeProblem(`${this.name(key)}: missing`);
    return value;
  }

  optionalString(key: string): string | undefined {
    const value = this.present(key);
    if (value === undefined || typeof value === "string") return value;
    throw new ShapeProblem(`${this.name(key)}: expected a string, got ${describe(value)}`);
  }

  optionalNumber(key: string): number | undefined {
    const value = this.present(key);
    if (value === undefined) return undefined;
    if (typeof value === "number" && Number.isFinite(value)) return value;
    throw new ShapeProblem(`${this.name(key)}: expected a number, got ${describe(value)}`);
  }

  optionalBoolean(key: string): boolean | undefined {
    const value = this.present(key);
    if (value === undefined || typeof value === "boolean") return value;
    throw new ShapeProblem(`${this.name(key)}: expected true or false, got ${describe(value)}`);
  }

  optionalObject(key: string): Reader | undefined {
    const value = this.present(key);
    return value === undefined ? undefined : new Reader(asObject(value, this.name(key)), this.name(key));
  }

  optionalArray(key: string): { value: unknown; path: string }[] | undefined {
    const value = this.present(key);
    if (value === undefined) return undefined;
    return asArray(value, this.name(key)).map((item, index) => ({
      value: item,
      path: `${this.name(key)}[${index}]`,
    }));
  }

  raw(key: string): unknown {
    return this.present(key);
  }
}
