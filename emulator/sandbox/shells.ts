// The POSIX shells a startup script is run under. macOS runs it with /bin/sh, which re-executes
// bash (in POSIX mode, the default), dash or zsh as /private/var/select/sh says (macOS sh(1)); the
// script must also stay within POSIX, so it is run under every POSIX shell Debian packages.
import { spawnSync } from "node:child_process";

export type ShellName = "dash" | "bash-posix" | "posh" | "mksh" | "yash-posix" | "busybox-sh" | "zsh-sh";

export interface PosixShell {
  /** The shell as a command line, without a script: `sh -c`, and a script on stdin, come after it. */
  command: readonly string[];
  /** Arguments after `command` that make it read the script from stdin. */
  stdinArgs: readonly string[];
  /** The Debian package that installs it (.ci/run installs every one). */
  debianPackage: string;
  /** Environment the shell needs to read UTF-8 values. */
  env: Readonly<Record<string, string>>;
}

export const POSIX_SHELLS: Readonly<Record<ShellName, PosixShell>> = {
  dash: { command: ["dash"], stdinArgs: ["-s"], debianPackage: "dash", env: {} },
  "bash-posix": {
    command: ["bash", "--posix"],
    stdinArgs: ["-s"],
    debianPackage: "bash",
    env: {},
  },
  // posh takes no -s: with no operand it reads stdin, as every shell does.
  posh: { command: ["posh"], stdinArgs: [], debianPackage: "posh", env: {} },
  mksh: { command: ["mksh"], stdinArgs: ["-s"], debianPackage: "mksh", env: {} },
  // yash decodes its input and its variables in the locale's encoding. glibc's C locale is ASCII:
  // there yash refuses any byte above 127 and makes non-ASCII command output empty, so UTF-8
  // values need a UTF-8 locale. (macOS's sh is never yash.)
  "yash-posix": {
    command: ["yash", "--posix"],
    stdinArgs: ["-s"],
    debianPackage: "yash",
    env: { LC_CTYPE: "C.UTF-8" },
  },
  "busybox-sh": {
    command: ["busybox", "sh"],
    stdinArgs: ["-s"],
    debianPackage: "busybox",
    env: {},
  },
  "zsh-sh": {
    command: ["zsh", "--emulate", "sh"],
    stdinArgs: ["-s"],
    debianPackage: "zsh",
    env: {},
  },
};

export const SHELL_NAMES = Object.keys(POSIX_SHELLS) as ShellName[];

/** The shell's command line, for messages and test names: `bash --posix`. */
export function shellLabel(shell: ShellName): string {
  return POSIX_SHELLS[shell].command.join(" ");
}

/** Throws, naming the Debian package, when the shell's program is not on PATH. */
export function assertShellInstalled(shell: ShellName): void {
  const { command, debianPackage } = POSIX_SHELLS[shell];
  const found = spawnSync(command[0] as string, [...command.slice(1), "-c", ":"], { stdio: "ignore" });
  if (found.error || found.status !== 0) {
    throw new Error(
      `${shellLabel(shell)} is not installed or does not run: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`,
    );
  }
}
