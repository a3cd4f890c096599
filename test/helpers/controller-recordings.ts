import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One recorded controller answer, as test/fixtures/controller/index.json lists it. */
export interface Recording {
  file: string;
  /** "GET /api/v1/vm?id=": method and path; `?id=` marks the single-item form. */
  request: string;
  status: number;
  headers?: Record<string, string>;
  /** How a part of an answer is served; absent: the file is the whole answer. */
  wrap?: "body" | "list-item" | "body-into-list";
  source: string;
  license: string;
  note?: string;
}

const FOLDER = new URL("../fixtures/controller/", import.meta.url);

export const recordings: Recording[] = JSON.parse(
  readFileSync(new URL("index.json", FOLDER), "utf8"),
) as Recording[];

export function recording(file: string): Recording {
  const found = recordings.find((candidate) => candidate.file === file);
  if (!found) throw new Error(`${file} is not in test/fixtures/controller/index.json`);
  return found;
}

/** The file's bytes, exactly as recorded. */
export function recordedText(file: string): string {
  return readFileSync(new URL(file, FOLDER), "utf8");
}

/** The whole answer the controller gave (a part is put back into its envelope as `wrap` says). */
export function recordedAnswer(entry: Recording): string {
  const text = recordedText(entry.file);
  if (!entry.wrap) return text;
  const part: unknown = JSON.parse(text);
  const body =
    entry.wrap === "body" ? part : entry.wrap === "list-item" ? [part] : [(part as { body: unknown }).body];
  return JSON.stringify({ status: "OK", message: "", body });
}

/**
 * A server that answers every request with one recording: its status, its headers (a JSON
 * content type when none were recorded) and its bytes. Swap the recording with `serve`.
 */
export async function replayServer() {
  let current: Recording | undefined;
  const seen: { method: string; url: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", body: Buffer.concat(chunks).toString() });
      if (!current) {
        res.writeHead(500).end("no recording chosen");
        return;
      }
      res.writeHead(current.status, current.headers ?? { "content-type": "application/json" });
      res.end(recordedAnswer(current));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    serve: (entry: Recording) => {
      current = entry;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
