// Identifiers and timestamps in the controller's formats (reference §1).
import { randomBytes } from "node:crypto";

/**
 * A UUID-shaped id whose variant nibble is never RFC 4122's (8-b), like the controller's
 * instance and request ids, e.g. c983c3bf-a0c0-43dc-54dc-2fd9f7d62fce (reference §1).
 */
export function controllerId(): string {
  const bytes = randomBytes(16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = (bytes[8] ?? 0) & 0x7f;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The sub-millisecond digits come from a monotonic counter so that timestamps carry nanoseconds. */
export function rfc3339Nano(epochMs: number): string {
  const wholeMs = Math.floor(epochMs);
  const subMsNanos = Number(process.hrtime.bigint() % 1_000_000n);
  const iso = new Date(wholeMs).toISOString(); // 2022-10-26T09:02:44.646Z
  const nanos = `${iso.slice(20, 23)}${String(subMsNanos).padStart(6, "0")}`;
  // Go's RFC3339Nano layout drops trailing zeros of the fraction.
  const fraction = nanos.replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}

/** Go's zero time, used for dates that are not set. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";
