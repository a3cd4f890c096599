import { ControllerFailError, ControllerResponseError, type RequestDescription } from "./errors.ts";
import type { RawResponse } from "../net/http.ts";

/**
 * The one place that knows the controller's envelope `{status, message, body}` (reference §1).
 * Any status but "OK" is a failure carrying the controller's message, whatever the HTTP code
 * says; a body that is not the envelope at all is reported with its HTTP code and an excerpt.
 */
export function openEnvelope(request: RequestDescription, response: RawResponse): unknown {
  if (response.text.trim() === "") {
    throw new ControllerResponseError(request, response.status, "empty body", "");
  }
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch {
    throw new ControllerResponseError(request, response.status, "the body is not JSON", response.text);
  }
  if (
    typeof json !== "object" ||
    json === null ||
    typeof (json as { status?: unknown }).status !== "string"
  ) {
    throw new ControllerResponseError(
      request,
      response.status,
      "JSON without the controller's {status, message} envelope",
      response.text,
    );
  }
  const envelope = json as { status: string; message?: unknown; body?: unknown };
  if (envelope.status !== "OK") {
    const message = typeof envelope.message === "string" ? envelope.message : "";
    throw new ControllerFailError(request, response.status, envelope.status, message);
  }
  if (response.status >= 400) {
    throw new ControllerResponseError(
      request,
      response.status,
      "an HTTP error code with status OK",
      response.text,
    );
  }
  return envelope.body;
}
