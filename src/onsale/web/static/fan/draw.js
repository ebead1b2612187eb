// The pre-queue draw as the fan can check it (src/onsale/queue/draw.py):
// SHA-256(seed) must equal the commitment published before the opening, and
// the order must be the entries sorted by HMAC-SHA256(seed, entry id).

import { call } from "./api.js";
import { t } from "./i18n.js";
import { sha256, hmacSha256 } from "./sha256.js";

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

function compareBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Hash and HMAC: the browser's, or plain JavaScript where crypto.subtle is
 * hidden (pages on plain http). */
async function primitives(seed) {
  if (!(globalThis.crypto && crypto.subtle)) {
    return { digest: async (b) => sha256(b), rank: async (m) => hmacSha256(seed, m) };
  }
  const key = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return {
    digest: async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b)),
    rank: async (m) => new Uint8Array(await crypto.subtle.sign("HMAC", key, m)),
  };
}

export async function verify(draw) {
  const seed = new Uint8Array(draw.seed.match(/../g).map((h) => parseInt(h, 16)));
  const { digest, rank } = await primitives(seed);
  if (hex(await digest(seed)) !== draw.commitment) return false;
  const encoder = new TextEncoder();
  const ranks = await Promise.all(draw.entries.map((e) => rank(encoder.encode(e))));
  for (let i = 1; i < ranks.length; i++) if (compareBytes(ranks[i - 1], ranks[i]) > 0) return false;
  return true;
}

export class DrawPanel {
  constructor(eventId, entryId) {
    this.path = `/api/events/${encodeURIComponent(eventId)}/draw`;
    this.entryId = entryId;
    document.getElementById("draw-check").addEventListener("click", () => this.check());
  }

  setEntry(entryId) {
    this.entryId = entryId;
    const p = document.getElementById("draw-entry");
    p.hidden = !entryId;
    p.textContent = entryId ? t("draw.your_entry", { entry: entryId }) : "";
  }

  async load() {
    try {
      const { data } = await call("GET", this.path);
      document.getElementById("draw-commitment").textContent = data.commitment;
      document.getElementById("draw").hidden = false;
    } catch {
      // The draw is a check for the curious: the queue works without it.
    }
  }

  async check() {
    const out = document.getElementById("draw-result");
    out.textContent = t("draw.checking");
    try {
      const { data } = await call("GET", this.path);
      if (!data.drawn) {
        out.textContent = t("draw.not_drawn");
        return;
      }
      if (!(await verify(data))) {
        out.textContent = t("draw.bad");
        return;
      }
      let message = t("draw.ok", { n: data.entries.length });
      const place = this.entryId ? data.entries.indexOf(this.entryId) : -1;
      if (place >= 0) message += " " + t("draw.ok_place", { n: place + 1, total: data.entries.length });
      out.textContent = message;
    } catch (err) {
      out.textContent = t("error.generic", { code: err.code || "error" });
    }
  }
}
