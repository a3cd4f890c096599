// Decodes base64 exactly as Go's base64.StdEncoding.DecodeString accepts it, so that an invalid
// startup_script is rejected with the controller's own text, "illegal base64 data at input byte N"
// (reference §12.2). N is a byte offset into the UTF-8 input, found the way Go's decodeQuantum finds it.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD = 0x3d; // '='
const CR = 0x0d;
const LF = 0x0a;

const isAlphabet = new Uint8Array(256);
for (const char of ALPHABET) isAlphabet[char.charCodeAt(0)] = 1;

export type GoBase64Result = { ok: true; bytes: Buffer } | { ok: false; offset: number };

export function decodeBase64LikeGo(text: string): GoBase64Result {
  const src = Buffer.from(text, "utf8");
  let si = 0;
  while (si < src.length) {
    const quantum = checkQuantum(src, si);
    if (quantum.error !== undefined) return { ok: false, offset: quantum.error };
    si = quantum.next;
  }
  // Validated: Node's decoder now yields the same bytes once Go's ignored newlines are gone.
  return { ok: true, bytes: Buffer.from(src.toString("latin1").replace(/[\r\n]/g, ""), "base64") };
}

export function illegalBase64Message(offset: number): string {
  return `illegal base64 data at input byte ${offset}`;
}

const isNewline = (byte: number | undefined) => byte === CR || byte === LF;

/** Mirrors Go's decodeQuantum: checks up to 4 symbols starting at `si`. */
function checkQuantum(src: Buffer, start: number): { next: number; error?: number } {
  let si = start;
  for (let j = 0; j < 4; j++) {
    if (si === src.length) {
      if (j === 0) return { next: si };
      return { next: si, error: si - j }; // a padded encoding needs whole quanta
    }
    const byte = src[si] as number;
    si++;
    if (isAlphabet[byte]) continue;
    if (isNewline(byte)) {
      j--;
      continue;
    }
    if (byte !== PAD || j < 2) return { next: si, error: si - 1 };
    if (j === 2) {
      // "==" expected; the first "=" is consumed.
      while (si < src.length && isNewline(src[si])) si++;
      if (si === src.length) return { next: si, error: src.length };
      if (src[si] !== PAD) return { next: si, error: si - 1 };
      si++;
    }
    while (si < src.length && isNewline(src[si])) si++;
    if (si < src.length) return { next: si, error: si }; // trailing garbage after padding
    return { next: si };
  }
  return { next: si };
}
