import picocolors from "picocolors";
import yoctoSpinner, { type Spinner } from "yocto-spinner";
import type { Logger } from "../core/index.ts";

/**
 * Everything the CLI prints goes through here. Results go to stdout (a table or lines, or with
 * --json exactly one JSON document); progress, warnings and errors go to stderr, so that
 * `anka-azdo list --json | jq` and `id=$(anka-azdo start ... --json | jq -r .instanceId)` work.
 *
 * On an interactive stderr (a TTY, TERM not dumb, not CI: the rule yocto-spinner uses) waits show
 * a spinner with the current step and the time it has taken; otherwise each step is one plain line.
 * The spinner is decided by stderr, where it draws, not stdout: `anka-azdo list > rows.txt` in a
 * terminal still spins, and `2> log` never gets escape codes.
 */
export interface OutputOptions {
  json: boolean;
  debug: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export type Colors = ReturnType<typeof picocolors.createColors>;

export function isInteractive(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  return Boolean(stream.isTTY) && env.TERM !== "dumb" && !("CI" in env);
}

function colorsFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Colors {
  const enabled =
    !("NO_COLOR" in env) && ("FORCE_COLOR" in env ? env.FORCE_COLOR !== "0" : isInteractive(stream, env));
  return picocolors.createColors(enabled);
}

export class Output {
  readonly json: boolean;
  readonly debugEnabled: boolean;
  readonly interactive: boolean;
  /** Colors for stdout (results) and stderr (progress, errors). */
  readonly out: Colors;
  readonly err: Colors;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private spinner: Spinner | undefined;
  private step = "";
  private stepStarted = 0;
  private ticker: NodeJS.Timeout | undefined;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.debugEnabled = options.debug;
    this.stdout = options.stdout;
    this.stderr = options.stderr;
    this.interactive = isInteractive(options.stderr, options.env);
    this.out = colorsFor(options.stdout, options.env);
    this.err = colorsFor(options.stderr, options.env);
  }

  /** The core's logger: steps become the spinner's text (TTY) or plain lines (otherwise). */
  readonly log: Logger = {
    info: (message) => this.progress(message),
    warn: (message) => this.warn(message),
    debug: (message) => {
      if (this.debugEnabled) this.line(this.stderr, this.err.dim(`debug: ${message}`));
    },
  };

  /** A step of a wait. On a TTY the previous step stays printed, the current one spins. */
  progress(message: string): void {
    if (!this.interactive) {
      this.line(this.stderr, message);
      return;
    }
    if (this.spinner?.isSpinning && this.step) this.line(this.stderr, `${this.err.green("✔")} ${this.step}`);
    this.step = message;
    this.stepStarted = Date.now();
    if (!this.spinner?.isSpinning) {
      this.spinner = yoctoSpinner({ stream: this.stderr, handleSignals: false, text: message }).start();
      this.ticker = setInterval(() => this.render(), 1000);
      this.ticker.unref();
    }
    this.render();
  }

  private render(): void {
    if (!this.spinner) return;
    const seconds = Math.floor((Date.now() - this.stepStarted) / 1000);
    this.spinner.text = seconds >= 2 ? `${this.step} ${this.err.dim(`(${seconds} s)`)}` : this.step;
  }

  /** Ends the current wait: the last step stays printed (with a cross when it failed). */
  done(failed = false): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.spinner?.isSpinning) {
      if (failed) this.spinner.error(this.step);
      else this.spinner.success(this.step);
    }
    this.spinner = undefined;
    this.step = "";
  }

  warn(message: string): void {
    this.line(this.stderr, `${this.err.yellow("warning:")} ${message}`);
  }

  /** The one error line (with --debug, the stack after it). */
  error(message: string, stack?: string): void {
    this.done(true);
    this.line(this.stderr, `${this.err.red("anka-azdo: error:")} ${message}`);
    if (this.debugEnabled && stack) this.line(this.stderr, this.err.dim(stack));
  }

  /** A result: lines for people, or the JSON document with --json. */
  result(human: () => string[], document: unknown): void {
    this.done();
    if (this.json) this.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    else for (const text of human()) this.line(this.stdout, text);
  }

  /** A line of a long-running command's own log (the pool service's JSON lines), as it is. */
  logLine(text: string): void {
    this.line(this.stdout, text);
  }

  /** The JSON document alone (the error document in --json mode). */
  document(document: unknown): void {
    this.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  }

  private line(stream: NodeJS.WriteStream, text: string): void {
    stream.write(`${text}\n`);
  }
}

/** Columns padded to their widest cell; `-` for empty cells. */
export function table(headers: string[], rows: string[][], colors?: Colors): string[] {
  const cells = rows.map((row) => row.map((cell) => (cell === "" ? "-" : cell)));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cells.map((row) => visibleLength(row[i] ?? ""))),
  );
  const format = (row: string[]) =>
    row
      .map((cell, i) =>
        i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visibleLength(cell)),
      )
      .join("  ")
      .trimEnd();
  const head = format(headers);
  return [colors ? colors.bold(head) : head, ...cells.map(format)];
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, "").length;
}
