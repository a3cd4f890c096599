/**
 * POSIX single-quote quoting. Inside single quotes every byte is literal except the single quote
 * itself, which cannot be escaped there: it is written as `'\''` (close, escaped quote, reopen).
 * So any string a shell variable can hold round-trips: quotes, `$`, backticks, backslashes,
 * newlines, non-ASCII. Shell strings are C strings, so NUL cannot be represented at all.
 */
export function shellQuote(value: string): string {
  if (value.includes("\0")) {
    throw new Error("shellQuote: a shell value cannot contain a NUL character");
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
