/**
 * Which proxy, if any, a request to a URL goes through. Adapters decide where the settings come
 * from (the Azure Pipelines agent's proxy configuration, HTTPS_PROXY/NO_PROXY for the CLI); the
 * HTTP layer only needs the answer for one URL.
 */
export interface ProxySettings {
  /** http://host:port of the proxy. */
  url: string;
  username?: string;
  password?: string;
}

export type ProxyResolver = (target: URL) => ProxySettings | undefined;

/** The proxy URL with its credentials, as proxy agents expect it. */
export function proxyUrlWithCredentials(proxy: ProxySettings): URL {
  const url = new URL(proxy.url);
  if (proxy.username) url.username = encodeURIComponent(proxy.username);
  if (proxy.password) url.password = encodeURIComponent(proxy.password);
  return url;
}

/**
 * NO_PROXY as curl and most tools read it: comma or space separated host names, where an entry
 * matches the host and its subdomains (a leading dot or `*.` is optional), `*` matches every
 * host, and `host:port` matches only that port.
 */
export function bypassedByNoProxy(target: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  return noProxy
    .split(/[\s,]+/)
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean)
    .some((entry) => {
      if (entry === "*") return true;
      // host, host:port, [ipv6] or [ipv6]:port; a bare IPv6 address has several colons and no port.
      const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(entry);
      const colon = entry.split(":");
      const [entryHost, entryPort] = bracketed
        ? [bracketed[1], bracketed[2]]
        : colon.length === 2
          ? colon
          : [entry, undefined];
      if (entryPort !== undefined && entryPort !== port) return false;
      const name = (entryHost ?? "").replace(/^\*?\./, "");
      return host === name || host.endsWith(`.${name}`);
    });
}

/** HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), the convention of curl and most tools. */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv): ProxyResolver {
  return (target) => {
    const noProxy = env.NO_PROXY ?? env.no_proxy;
    if (bypassedByNoProxy(target, noProxy)) return undefined;
    const url =
      target.protocol === "https:"
        ? (env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy)
        : (env.HTTP_PROXY ?? env.http_proxy);
    return url ? { url } : undefined;
  };
}
