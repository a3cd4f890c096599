import http from "node:http";
import https from "node:https";
import { proxyUrlWithCredentials, type ProxySettings } from "./proxy.ts";

/** TLS settings for an https controller URL. PEM strings, never file paths: the caller reads files. */
export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
}

export interface RawRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Thrown by {@link HttpSender.send} when the whole exchange took longer than `timeoutMs`. */
export class RequestTimeout extends Error {}

/**
 * One keep-alive connection pool and one way to send a request. Node's own http/https keeps the
 * task bundles small and starts fast; everything above it (envelope, retries, auth) is elsewhere.
 */
export class HttpSender {
  private readonly agent: Promise<http.Agent>;
  private readonly tls: TlsOptions;

  constructor(
    readonly baseUrl: URL,
    tls: TlsOptions = {},
    proxy?: ProxySettings,
  ) {
    const secure = baseUrl.protocol === "https:";
    this.tls = secure ? tls : {};
    const pool = { keepAlive: true, maxSockets: 64 };
    this.agent = proxy
      ? proxyAgent(proxyUrlWithCredentials(proxy), secure, pool)
      : Promise.resolve(secure ? new https.Agent({ ...pool, ...tls }) : new http.Agent(pool));
    // A rejected import would otherwise be reported as unhandled before the first send awaits it.
    this.agent.catch(() => {});
  }

  async send(req: RawRequest): Promise<RawResponse> {
    const transport = req.url.protocol === "https:" ? https : http;
    const agent = await this.agent;
    return new Promise<RawResponse>((resolve, reject) => {
      const outgoing = transport.request(req.url, {
        method: req.method,
        headers:
          req.body === undefined
            ? req.headers
            : { ...req.headers, "content-length": Buffer.byteLength(req.body) },
        agent,
        // TLS settings travel with each request too: a proxy agent applies them to the tunnelled connection.
        ...this.tls,
      });
      // One deadline for the whole exchange, not per socket event: a server that trickles bytes
      // must not keep a task waiting forever.
      const timer = setTimeout(() => outgoing.destroy(new RequestTimeout()), req.timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      outgoing.on("error", fail);
      outgoing.on("response", (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("error", fail);
        incoming.on("aborted", () =>
          fail(Object.assign(new Error("connection closed mid-answer"), { code: "ECONNRESET" })),
        );
        incoming.on("end", () => {
          clearTimeout(timer);
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          });
        });
      });
      outgoing.end(req.body);
    });
  }

  close(): void {
    void this.agent.then((agent) => agent.destroy());
  }
}

/**
 * Through a proxy: CONNECT tunnels for https (TLS to the target inside), absolute-form for http.
 * Loaded on demand, so that tasks which reach their servers directly do not pay for it at start.
 */
async function proxyAgent(proxyUrl: URL, secure: boolean, pool: http.AgentOptions): Promise<http.Agent> {
  if (secure) {
    const { HttpsProxyAgent } = await import("https-proxy-agent");
    return new HttpsProxyAgent(proxyUrl, pool);
  }
  const { HttpProxyAgent } = await import("http-proxy-agent");
  return new HttpProxyAgent(proxyUrl, pool);
}
