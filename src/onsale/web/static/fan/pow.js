// The join's proof of work (src/onsale/queue/guard.py): the first decimal
// nonce n such that SHA-256(challenge + ":" + n) has at least `difficulty`
// leading zero bits. Digests run in batches so the page stays responsive.

import { sha256 } from "./sha256.js";

const BATCH = 512;

// crypto.subtle exists only on secure origins (https, localhost).
const digest = globalThis.crypto && crypto.subtle
  ? async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))
  : async (bytes) => sha256(bytes);

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

export async function solve(challenge, difficulty, hash = digest) {
  const encoder = new TextEncoder();
  for (let start = 0; ; start += BATCH) {
    const digests = await Promise.all(
      Array.from({ length: BATCH }, (_, i) =>
        hash(encoder.encode(`${challenge}:${start + i}`)),
      ),
    );
    const found = digests.findIndex((d) => leadingZeroBits(d) >= difficulty);
    if (found >= 0) return String(start + found);
  }
}
