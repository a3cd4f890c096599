/**
 * Fails a run whose output shows a test secret. `npm test` runs the node test runner under it:
 *
 *   node --import tsx scripts/scan-secrets.ts -- <command> [args...]
 *
 * runs the command, passes its stdout and stderr through with every secret form (see
 * test/helpers/secrets.ts) replaced by `[secret: <which> redacted]`, and exits with the command's
 * exit code, or 1 when the command succeeded but a secret showed. Without a command it filters
 * stdin to stdout the same way. Only the test output is scanned: the emulators' request logs stay
 * in memory and may legitimately hold what a client sent.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { secretForms, type SecretForm } from "../test/helpers/secrets.ts";

/** A quiet stream is flushed after this long, so held-back output never waits for more. */
const QUIET_FLUSH_MS = 50;

/**
 * Streaming redaction. Detection is exact whatever the chunking: each chunk is searched together
 * with the end of what was already written. Redaction holds back as many characters as the longest
 * form, less one, so that a secret split across chunks is redacted whole, not written in halves
 * (a stream that goes quiet is flushed, see QUIET_FLUSH_MS; detection still sees a secret whose
 * halves straddle such a flush).
 */
export class SecretScanner {
  /** Labels of the forms seen (never their values). */
  readonly found = new Set<string>();
  private readonly forms: SecretForm[];
  /** Forms by first character, longest first: at each position the longest match is redacted. */
  private readonly byFirst = new Map<string, SecretForm[]>();
  private readonly holdBack: number;
  private pending = "";
  private written = "";

  constructor(forms: SecretForm[]) {
    this.forms = [...forms].filter((form) => form.value).sort((a, b) => b.value.length - a.value.length);
    for (const form of this.forms) {
      const first = form.value[0] as string;
      this.byFirst.set(first, [...(this.byFirst.get(first) ?? []), form]);
    }
    this.holdBack = Math.max(0, ...this.forms.map((form) => form.value.length)) - 1;
  }

  /** Adds output; returns the part that may be written now. */
  push(text: string): string {
    this.pending += text;
    return this.take(false);
  }

  /** Everything held back. */
  flush(): string {
    return this.take(true);
  }

  private take(all: boolean): string {
    const window = this.written + this.pending;
    for (const form of this.forms) if (window.includes(form.value)) this.found.add(form.label);
    // Any form starting before `limit` is complete in `pending`, so it can be redacted whole.
    const limit = all ? this.pending.length : this.pending.length - this.holdBack;
    let out = "";
    let plainFrom = 0;
    let at = 0;
    while (at < limit) {
      const form = this.byFirst
        .get(this.pending[at] as string)
        ?.find((f) => this.pending.startsWith(f.value, at));
      if (!form) {
        at++;
        continue;
      }
      out += `${this.pending.slice(plainFrom, at)}[secret: ${form.label} redacted]`;
      at += form.value.length;
      plainFrom = at;
    }
    out += this.pending.slice(plainFrom, at);
    this.pending = this.pending.slice(at);
    this.written = (this.written + out).slice(-this.holdBack);
    return out;
  }
}

/** Pipes a readable stream through a scanner into a writable one; resolves when the source ends. */
function relay(source: NodeJS.ReadableStream, target: NodeJS.WritableStream, scanner: SecretScanner) {
  let timer: NodeJS.Timeout | undefined;
  const write = (text: string) => {
    if (text) target.write(text);
  };
  source.setEncoding("utf8");
  source.on("data", (chunk: string) => {
    write(scanner.push(chunk));
    clearTimeout(timer);
    timer = setTimeout(() => write(scanner.flush()), QUIET_FLUSH_MS);
  });
  return new Promise<void>((resolve) => {
    source.on("end", () => {
      clearTimeout(timer);
      write(scanner.flush());
      resolve();
    });
  });
}

function report(scanners: SecretScanner[]): boolean {
  const labels = [...new Set(scanners.flatMap((scanner) => [...scanner.found]))];
  if (labels.length === 0) return false;
  process.stderr.write(
    `\nscan-secrets: FAILED: the output showed ${labels.length} test secret form(s), redacted above:\n` +
      labels.map((label) => `  - ${label}\n`).join("") +
      "A test or the code under test printed a secret. Find where it is printed and mask it.\n",
  );
  return true;
}

async function main(argv: string[]): Promise<number> {
  const forms = secretForms();
  const separator = argv.indexOf("--");
  const command = separator >= 0 ? argv.slice(separator + 1) : argv;
  if (command.length === 0) {
    const scanner = new SecretScanner(forms);
    await relay(process.stdin, process.stdout, scanner);
    return report([scanner]) ? 1 : 0;
  }
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
    stdio: ["inherit", "pipe", "pipe"],
    env: process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: "1", ...process.env } : process.env,
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  const out = new SecretScanner(forms);
  const err = new SecretScanner(forms);
  const exited = new Promise<number>((resolve) => {
    child.on("error", (error) => {
      process.stderr.write(`scan-secrets: cannot run ${file}: ${error.message}\n`);
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  await Promise.all([
    relay(child.stdout as NodeJS.ReadableStream, process.stdout, out),
    relay(child.stderr as NodeJS.ReadableStream, process.stderr, err),
  ]);
  const code = await exited;
  const leaked = report([out, err]);
  return code !== 0 ? code : leaked ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
