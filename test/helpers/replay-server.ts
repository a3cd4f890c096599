import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** One recorded answer of test/fixtures/azdo (see its README for the format). */
export interface Recording {
  source: string;
  request: string;
  status: number;
  headers: Record<string, string | string[]> | null;
  body: unknown;
  notes?: string[];
}

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "azdo");

export function recording(name: string): Recording {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8")) as Recording;
}

/** Headers that describe the original connection, not the answer: the replay sets its own. */
const HOP_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "date"]);

export interface SeenRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
}

/**
 * A server that answers each request with a recorded answer: its status, headers and body as
 * recorded (a BOM noted in the recording is sent too). `choose` picks the recording per request.
 */
export async function replayServer(choose: (request: SeenRequest) => Recording) {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: new URL(req.url ?? "/", "http://replay"),
        headers: req.headers,
      };
      seen.push(request);
      const answer = choose(request);
      const bom = answer.notes?.some((note) => /\bBOM\b/.test(note)) ? "\uFEFF" : "";
      const text =
        answer.body === null || answer.body === undefined
          ? ""
          : bom + (typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body));
      for (const [name, value] of Object.entries(answer.headers ?? {}))
        if (!HOP_HEADERS.has(name.toLowerCase())) res.setHeader(name, value);
      if (text && answer.headers === null) res.setHeader("content-type", "application/json; charset=utf-8");
      res.setHeader("content-length", Buffer.byteLength(text));
      res.writeHead(answer.status);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    /** An organization URL on the replay server. */
    organizationUrl: `http://127.0.0.1:${port}/org`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A recorded element of a `value` array (KEDA keeps single job requests) as the list it came in. */
export function asList(element: Recording): Recording {
  return { ...element, body: { count: 1, value: [element.body] } };
}
