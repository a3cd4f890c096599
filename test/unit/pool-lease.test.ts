import assert from "node:assert/strict";
import { test } from "node:test";
import type { Agent } from "../../src/azdo/index.ts";
import { formatLease, judgeLease, parseLease, withoutLease, type Lease } from "../../src/pool/lease.ts";

const NOW = Date.parse("2026-12-08T03:00:00Z");

function placeholder(name: string, lease?: Lease): Agent {
  return {
    id: name.length,
    name,
    status: "offline",
    systemCapabilities: {},
    userCapabilities: { "anka-class": "x", ...(lease ? { "anka-pool-lease": formatLease(lease) } : {}) },
  };
}

test("the lease: read back as written; a live older lease wins, an expired one or a younger one does not", () => {
  const mine: Lease = { holder: "host-a:%2Fetc%2Fpool.yml", since: NOW - 60_000, until: NOW + 30_000 };
  assert.deepEqual(parseLease(formatLease(mine)), mine);
  assert.equal(parseLease("holder=x since=garbage until=2026-12-08T03:00:00Z"), undefined);
  assert.deepEqual(judgeLease([], mine.holder, NOW), { kind: "act" });

  const older: Lease = { holder: "host-b:%2Fpool.yml", since: NOW - 120_000, until: NOW + 10_000 };
  const verdict = judgeLease(
    [placeholder("anka-placeholder-a", mine), placeholder("anka-placeholder-b", older)],
    mine.holder,
    NOW,
  );
  assert.deepEqual(verdict, { kind: "refuse", holder: older });

  const expired = { ...older, until: NOW - 1 };
  assert.equal(judgeLease([placeholder("anka-placeholder-b", expired)], mine.holder, NOW).kind, "act");
  const younger = { ...older, since: NOW - 1_000 };
  const acting = judgeLease(
    [placeholder("anka-placeholder-a", mine), placeholder("anka-placeholder-b", younger)],
    mine.holder,
    NOW,
  );
  assert.equal(acting.kind, "act");
  assert.equal(acting.kind === "act" ? acting.mine?.lease.holder : undefined, mine.holder);
  // Same moment: the smaller holder id wins, so both services come to the same answer.
  const twin = { ...mine, holder: "host-0" };
  assert.equal(
    judgeLease(
      [placeholder("anka-placeholder-a", mine), placeholder("anka-placeholder-b", twin)],
      mine.holder,
      NOW,
    ).kind,
    "refuse",
  );
  assert.equal(
    judgeLease(
      [placeholder("anka-placeholder-a", mine), placeholder("anka-placeholder-b", twin)],
      twin.holder,
      NOW,
    ).kind,
    "act",
  );
  // Only placeholders carry leases; and comparing capabilities leaves the lease out.
  assert.equal(judgeLease([placeholder("manual-agent", older)], mine.holder, NOW).kind, "act");
  assert.deepEqual(withoutLease(placeholder("p", mine).userCapabilities), { "anka-class": "x" });
});
