import assert from "node:assert/strict";
import { test } from "node:test";
import { SecretSet } from "../../src/pool/log.ts";

test("a released secret is no longer masked (or held); one registered twice stays until released twice", () => {
  const secrets = new SecretSet();
  secrets.register("pat-value-123");
  secrets.register("script-of-vm-1");
  secrets.register("script-of-vm-2");
  assert.equal(secrets.scrub("pat-value-123 script-of-vm-1 script-of-vm-2"), "*** *** ***");
  secrets.release(["script-of-vm-1"]);
  assert.equal(secrets.scrub("pat-value-123 script-of-vm-1 script-of-vm-2"), "*** script-of-vm-1 ***");
  // The PAT held twice (the service's own registration and a start's) survives the start's release.
  secrets.register("pat-value-123");
  secrets.release(["pat-value-123", "never-registered"]);
  assert.equal(secrets.scrub("pat-value-123"), "***");
  secrets.release(["pat-value-123"]);
  assert.equal(secrets.scrub("pat-value-123"), "pat-value-123");
});
