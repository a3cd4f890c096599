import type { Timing } from "./types.ts";

/** For tests: a cold start with a pull takes about 200 ms. */
export const FAST_TIMING: Timing = Object.freeze({
  schedulingMs: 20,
  pullMs: 80,
  pullSteps: 4,
  bootMs: 40,
  ipDelayMs: 30,
  terminatingMs: 20,
  terminatedRetentionMs: 500,
});

/** For the demo and benchmarks: a cold start with a pull takes about 7 s; retention is the real default (1 min). */
export const DEMO_TIMING: Timing = Object.freeze({
  schedulingMs: 500,
  pullMs: 4000,
  pullSteps: 8,
  bootMs: 1800,
  ipDelayMs: 700,
  terminatingMs: 1000,
  terminatedRetentionMs: 60_000,
});
