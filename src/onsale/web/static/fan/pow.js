// The join's proof of work (src/onsale/queue/guard.py): the first decimal
// nonce n such that SHA-256(challenge + ":" + n) has at least `difficulty`
// leading zero bits. Digests run in batches so the page stays responsive.

const BATCH = 512;

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

export async function solve(challenge, difficulty) {
  const encoder = new TextEncoder();
  for (let start = 0; ; start += BATCH) {
    const digests = await Promise.all(
      Array.from({ length: BATCH }, (_, i) =>
        crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${start + i}`)),
      ),
    );
    const found = digests.findIndex((d) => leadingZeroBits(new Uint8Array(d)) >= difficulty);
    if (found >= 0) return String(start + found);
  }
}
