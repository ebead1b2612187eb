// Checking a ticket code on the phone, without the network: the signature
// (Ed25519, the venue's public key from the door bundle) over the same
// message as src/onsale/tickets/codes.py signs. WebCrypto's Ed25519 (Chromium
// 137+, Firefox 129+, Safari 17+); where a browser lacks it, codes cannot be
// checked offline and are answered "invalid" (said in the README).

const DOMAIN = "onsale-ticket-v1";
const CODE_RE = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{86})$/;

export function unb64(text) {
  let s = text.replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** {eventId, ticketId, signature} of a well-formed code, else null. */
export function parse(code) {
  const m = CODE_RE.exec(code.trim());
  if (!m) return null;
  return { eventId: m[1], ticketId: m[2], signature: unb64(m[3]) };
}

const keys = new Map();

async function importKey(publicKey) {
  if (!keys.has(publicKey)) {
    keys.set(
      publicKey,
      crypto.subtle.importKey("raw", unb64(publicKey), { name: "Ed25519" }, false, ["verify"]),
    );
  }
  return keys.get(publicKey);
}

/** The code's parts when one of the venue's keys signed it, else null. */
export async function verifyCode(publicKeys, code) {
  const parsed = parse(code);
  if (!parsed || parsed.signature.length !== 64) return null;
  const message = new TextEncoder().encode(`${DOMAIN}|${parsed.eventId}|${parsed.ticketId}`);
  for (const publicKey of publicKeys || []) {
    try {
      const key = await importKey(publicKey);
      if (await crypto.subtle.verify({ name: "Ed25519" }, key, parsed.signature, message)) return parsed;
    } catch {
      // A key this browser cannot use: try the next.
    }
  }
  return null;
}

/**
 * What the door answers with the network off, from the bundle
 * ({event_id, event_ids, public_keys, voided, admitted}) and the tickets this
 * phone let in (`seen`, a Set): the same results as the server's.
 */
export async function decideOffline(bundle, seen, code) {
  const parsed = await verifyCode(bundle.public_keys, code);
  if (!parsed) return { result: "invalid", ticket: null };
  const events = bundle.event_id ? [bundle.event_id] : bundle.event_ids || [];
  if (!events.includes(parsed.eventId)) return { result: "wrong_event", ticket: null };
  const ticket = { ticket_id: parsed.ticketId, event_id: parsed.eventId };
  if ((bundle.voided || []).includes(parsed.ticketId)) return { result: "refunded", ticket };
  if (seen.has(parsed.ticketId) || (bundle.admitted || []).includes(parsed.ticketId)) {
    return { result: "already_admitted", ticket };
  }
  seen.add(parsed.ticketId);
  return { result: "admitted", ticket };
}
