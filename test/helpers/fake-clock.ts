import type { Clock } from "../../src/clock.ts";

/** A clock whose sleeps return at once and advance virtual time: a 30-minute wait runs in milliseconds. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private time = 1_000_000) {}

  now(): number {
    return this.time;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.sleeps.push(ms);
    this.time += ms;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
