// What a handler answers, before the server writes it (or a fault replaces it), and the envelope of reference §1.

export interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

const JSON_TYPE = "application/json";

export function jsonReply(status: number, value: unknown): Reply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

export function textReply(status: number, text: string, contentType = "text/plain; charset=utf-8"): Reply {
  return { status, contentType, body: text };
}

/**
 * Reference §1: `body` is omitted on terminate/update success, so `undefined` leaves it out. The
 * recorded 200 of /api/v1/status carries `cache-control: no-store` (anka-controller-2026 §1.4);
 * the 401 beside it does not.
 */
export function okEnvelope(body?: unknown): Reply {
  return {
    ...jsonReply(
      200,
      body === undefined ? { status: "OK", message: "" } : { status: "OK", message: "", body },
    ),
    headers: { "Cache-Control": "no-store" },
  };
}

export function failEnvelope(status: number, message: string): Reply {
  return jsonReply(status, { status: "FAIL", message });
}

/** Thrown by handlers to answer with a FAIL envelope. */
export class ApiFailure extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiFailure";
  }
}

export const badRequest = (message: string) => new ApiFailure(400, message);
