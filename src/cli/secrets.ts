import type { SecretRegistry } from "../core/index.ts";

/** Shown instead of a secret, as the agent shows `***` for masked values. */
export const MASK = "***";

/**
 * The CLI's secret set: every secret the CLI reads, and every derived form the core registers
 * through `registerSecret` (base64 of Basic credentials, of the startup script), is replaced by
 * `***` in everything the process writes. Values shorter than 3 characters are not masked: they
 * would mangle every line and are no secret worth the name.
 */
export class SecretScrubber {
  private readonly secrets = new Set<string>();
  private ordered: string[] = [];

  readonly register: SecretRegistry = (value) => {
    if (typeof value !== "string" || value.trim().length < 3) return;
    // A secret inside a JSON string is escaped (quotes, backslashes): mask that form too.
    for (const form of [value, JSON.stringify(value).slice(1, -1)]) this.secrets.add(form);
    // Longest first, so a secret that contains another is masked whole.
    this.ordered = [...this.secrets].sort((a, b) => b.length - a.length);
  };

  scrub(text: string): string {
    let result = text;
    for (const secret of this.ordered) if (result.includes(secret)) result = result.split(secret).join(MASK);
    return result;
  }

  get size(): number {
    return this.secrets.size;
  }
}

/**
 * Scrubs every write to stdout and stderr: the CLI's own lines, the spinner's, commander's and any
 * library's. Installed first, so the spinner's own stream hook sits on top of it.
 */
export function guardStreams(scrubber: SecretScrubber, streams: NodeJS.WriteStream[]): void {
  for (const stream of streams) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text =
        typeof chunk === "string"
          ? chunk
          : chunk instanceof Uint8Array
            ? Buffer.from(chunk).toString("utf8")
            : String(chunk);
      // A Buffer written with an encoding argument is now text: its encoding is utf8.
      if (typeof chunk !== "string" && typeof rest[0] === "string") rest[0] = "utf8";
      return write(scrubber.scrub(text), ...rest);
    }) as typeof stream.write;
  }
}
