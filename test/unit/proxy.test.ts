import assert from "node:assert/strict";
import { test } from "node:test";
import { bypassedByNoProxy, proxyFromEnvironment, proxyUrlWithCredentials } from "../../src/net/proxy.ts";

test("NO_PROXY: host and subdomains, leading dot or *., ports, *, IPs", () => {
  const url = (u: string) => new URL(u);
  assert.equal(bypassedByNoProxy(url("https://anka.example.com:8090"), "example.com"), true);
  assert.equal(bypassedByNoProxy(url("https://anka.example.com"), ".example.com"), true);
  assert.equal(bypassedByNoProxy(url("https://anka.example.com"), "*.example.com"), true);
  assert.equal(bypassedByNoProxy(url("https://notexample.com"), "example.com"), false);
  assert.equal(bypassedByNoProxy(url("https://anka.example.com:8090"), "anka.example.com:8090"), true);
  assert.equal(bypassedByNoProxy(url("https://anka.example.com:8091"), "anka.example.com:8090"), false);
  assert.equal(bypassedByNoProxy(url("https://dev.azure.com/org"), "localhost, 127.0.0.1 *"), true);
  assert.equal(bypassedByNoProxy(url("http://127.0.0.1:3000"), "localhost,127.0.0.1"), true);
  assert.equal(bypassedByNoProxy(url("http://[::1]:3000"), "::1"), true);
  assert.equal(bypassedByNoProxy(url("https://dev.azure.com"), ""), false);
  assert.equal(bypassedByNoProxy(url("https://dev.azure.com"), undefined), false);
});

test("HTTPS_PROXY for https, HTTP_PROXY for http, NO_PROXY wins", () => {
  const resolve = proxyFromEnvironment({
    HTTPS_PROXY: "http://secure:3128",
    http_proxy: "http://plain:3128",
    NO_PROXY: "internal.example",
  });
  assert.deepEqual(resolve(new URL("https://dev.azure.com/o")), { url: "http://secure:3128" });
  assert.deepEqual(resolve(new URL("http://anka:8090")), { url: "http://plain:3128" });
  assert.equal(resolve(new URL("https://ctl.internal.example:8090")), undefined);
  assert.equal(proxyFromEnvironment({})(new URL("https://x")), undefined);
});

test("proxy credentials go into the proxy URL, encoded", () => {
  assert.equal(
    proxyUrlWithCredentials({
      url: "http://proxy:3128",
      username: "dom\\user",
      password: "p@ss:w/rd",
    }).toString(),
    "http://dom%5Cuser:p%40ss%3Aw%2Frd@proxy:3128/",
  );
});
