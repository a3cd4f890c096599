import http from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Reply =
  | { status?: number; json: unknown }
  | { status?: number; text: string; contentType?: string }
  | { reset: true };

/**
 * A bare HTTP server that answers each request with the next scripted reply (the last one
 * repeats). For unit tests of the HTTP layer with exact bytes; behaviour tests use the emulator.
 */
export async function scriptedServer(replies: Reply[] | ((req: SeenRequest) => Reply)) {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(request);
      const reply =
        typeof replies === "function"
          ? replies(request)
          : (replies[seen.length - 1] ?? replies[replies.length - 1]);
      if (!reply || "reset" in reply) {
        req.socket.destroy();
        return;
      }
      if ("json" in reply) {
        res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
        res.end(JSON.stringify(reply.json));
      } else {
        res.writeHead(reply.status ?? 200, { "content-type": reply.contentType ?? "text/plain" });
        res.end(reply.text);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
