// HTTP for the stand-in agent: JSON requests with the api-version in the Accept header (as the agent's
// VSS client sends it, azure-pipelines-agent.md §2 step 4), through the configured proxy when there is
// one (`--proxyurl`: absolute-form requests for http targets, a CONNECT tunnel for https targets).
import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { URL, URLSearchParams } from "node:url";

const API_VERSION = "7.1";
const TIMEOUT_MS = 100_000; // the VssConnection default (§2 step 4)

export class HttpError extends Error {
  constructor(status, body, headers = {}) {
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    super(
      parsed?.message ??
        parsed?.error_description ??
        `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`,
    );
    this.status = status;
    this.typeKey = parsed?.typeKey;
    /** Response headers, lower-case names (the auth challenge is in www-authenticate). */
    this.headers = headers;
  }
}

export class HttpClient {
  /** `proxy`: { url, username?, password? } or undefined. */
  constructor({ userAgent, proxy }) {
    this.userAgent = userAgent;
    this.proxy = proxy;
  }

  /** JSON in, JSON out; undefined for an empty answer; HttpError for any non-2xx. */
  async json(method, url, { authorization, body, signal, form } = {}) {
    const headers = {
      accept: `application/json;api-version=${API_VERSION}`,
      "user-agent": this.userAgent,
      // The agent's VSS client always sends it (VssHttpRequestSettings), so a refused credential
      // gets a 401 with a challenge, never the 203 sign-in page.
      "x-tfs-fedauthredirect": "Suppress",
    };
    if (authorization) headers.authorization = authorization;
    let payload;
    if (form) {
      payload = new URLSearchParams(form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = `application/json;api-version=${API_VERSION}`;
    }
    const response = await this.send(method, new URL(url), headers, payload, signal);
    if (response.status < 200 || response.status > 299)
      throw new HttpError(response.status, response.text, response.headers);
    return response.text ? JSON.parse(response.text) : undefined;
  }

  async send(method, url, headers, payload, signal) {
    const { module, options } = await this.requestOptions(method, url, headers, payload);
    return new Promise((resolve, reject) => {
      const request = module.request({ ...options, signal, timeout: TIMEOUT_MS }, (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        response.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error(`Request to ${url.href} timed out`)));
      request.on("error", reject);
      request.end(payload);
    });
  }

  async requestOptions(method, url, headers, payload) {
    const allHeaders = { ...headers, host: url.host };
    if (payload !== undefined) allHeaders["content-length"] = Buffer.byteLength(payload);
    const base = { method, headers: allHeaders, path: `${url.pathname}${url.search}` };
    if (!this.proxy) {
      return {
        module: url.protocol === "https:" ? https : http,
        options: { ...base, hostname: url.hostname, port: url.port || undefined },
      };
    }
    const proxy = new URL(this.proxy.url);
    const proxyAuth = this.proxy.username
      ? `Basic ${Buffer.from(`${this.proxy.username}:${this.proxy.password ?? ""}`).toString("base64")}`
      : undefined;
    if (url.protocol === "http:") {
      return {
        module: http,
        options: {
          ...base,
          hostname: proxy.hostname,
          port: proxy.port || 80,
          path: url.href,
          headers: { ...allHeaders, ...(proxyAuth ? { "proxy-authorization": proxyAuth } : {}) },
        },
      };
    }
    const socket = await connectTunnel(proxy, url, proxyAuth);
    return {
      module: https,
      options: {
        ...base,
        hostname: url.hostname,
        createConnection: () => tls.connect({ socket, servername: url.hostname }),
      },
    };
  }
}

function connectTunnel(proxy, url, proxyAuth) {
  return new Promise((resolve, reject) => {
    const authority = `${url.hostname}:${url.port || 443}`;
    const request = http.request({
      method: "CONNECT",
      hostname: proxy.hostname,
      port: proxy.port || 80,
      path: authority,
      headers: { host: authority, ...(proxyAuth ? { "proxy-authorization": proxyAuth } : {}) },
    });
    request.on("connect", (response, socket) => {
      if (response.statusCode === 200) resolve(socket);
      else reject(new Error(`Proxy refused CONNECT ${authority}: HTTP ${response.statusCode}`));
    });
    request.on("error", reject);
    request.end();
  });
}
