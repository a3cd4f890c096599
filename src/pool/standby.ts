/**
 * Standby schedules (issue 14 item 5): a class's `standby` may be a list of time windows, each
 * with a count, read in the config's `timeZone`, like Managed DevOps Pools' manual standby
 * schedule, so that warm VMs cost nothing at night. At a given moment the first window that
 * contains it applies; outside every window the class keeps no warm VM.
 */

export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface StandbyWindow {
  /** The days the window opens on. */
  days: Weekday[];
  /** Minutes after midnight, local time. `to` at or before `from`: the window runs past midnight. */
  fromMinute: number;
  toMinute: number;
  count: number;
}

/** A fixed count, or windows (the count outside them is 0). */
export type StandbySetting = number | StandbyWindow[];

/** Throws RangeError for a zone the runtime does not know. */
export function localClock(timeZone: string): (now: number) => { day: Weekday; minute: number } {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  return (now) => {
    const parts = Object.fromEntries(format.formatToParts(now).map((part) => [part.type, part.value]));
    const day = String(parts.weekday).toLowerCase().slice(0, 3) as Weekday;
    return { day, minute: Number(parts.hour) * 60 + Number(parts.minute) };
  };
}

export function standbyAt(setting: StandbySetting, local: { day: Weekday; minute: number }): number {
  if (typeof setting === "number") return setting;
  const yesterday = WEEKDAYS[(WEEKDAYS.indexOf(local.day) + 6) % 7] as Weekday;
  const window = setting.find((w) => {
    if (w.fromMinute < w.toMinute)
      return w.days.includes(local.day) && local.minute >= w.fromMinute && local.minute < w.toMinute;
    // Past midnight: the evening part on a listed day, the morning part on the day after one.
    return (
      (w.days.includes(local.day) && local.minute >= w.fromMinute) ||
      (w.days.includes(yesterday) && local.minute < w.toMinute)
    );
  });
  return window?.count ?? 0;
}

/** The most VMs a setting ever keeps warm (what `max` and `maxVms` must allow). */
export function peakStandby(setting: StandbySetting): number {
  return typeof setting === "number" ? setting : Math.max(0, ...setting.map((w) => w.count));
}
