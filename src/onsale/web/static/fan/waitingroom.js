// The waiting-room step: the join (with its proof of work when the event asks
// for one), then the fan's standing as the queue link reports it: state,
// position, people ahead, estimated wait, progress, and a polite live region.

import { call } from "./api.js";
import { t, duration } from "./i18n.js";
import { QueueLink } from "./queue.js";
import { solve } from "./pow.js";
import { showError, clearError, notice, announce, errorText, show } from "./messages.js";

const ANNOUNCE_EVERY_MS = 30000;
const $ = (id) => document.getElementById(id);

export class WaitingRoom {
  /**
   * store: EventStorage; draw: DrawPanel; powHint: the page's difficulty hint;
   * on.admitted({token, expiresAt}) when the fan's turn comes; on.gone() when
   * the place no longer exists (bad token).
   */
  constructor(eventId, store, draw, powHint, on) {
    this.eventId = eventId;
    this.api = `/api/events/${encodeURIComponent(eventId)}`;
    this.store = store;
    this.draw = draw;
    this.powHint = powHint;
    this.on = on;
    this.link = null;
    this.heard = { state: null, position: null, at: 0 };
    $("queue-join").addEventListener("click", () => this.join());
    $("queue-rejoin").addEventListener("click", () => this.rejoin());
  }

  /** The join button, for a fan with no place yet. */
  offerJoin() {
    show("queue");
    $("queue-intro").hidden = false;
    $("queue-standing").hidden = true;
    $("queue-join").disabled = false;
    $("queue-join").textContent = t("queue.join");
  }

  async proofOfWork() {
    const { data } = await call("GET", `${this.api}/queue/challenge`);
    if (!data.difficulty) return null;
    $("queue-pow").hidden = false;
    try {
      return { challenge: data.challenge, nonce: await solve(data.challenge, data.difficulty) };
    } finally {
      $("queue-pow").hidden = true;
    }
  }

  async postJoin() {
    const body = {};
    if (this.powHint > 0) body.pow = await this.proofOfWork();
    try {
      return (await call("POST", `${this.api}/queue`, { body })).data;
    } catch (err) {
      // The page's hint was stale: the venue turned the proof of work on since.
      const fields = (err.details && err.details.fields) || {};
      if (err.code !== "validation_error" || !fields.pow || body.pow) throw err;
      body.pow = await this.proofOfWork();
      return (await call("POST", `${this.api}/queue`, { body })).data;
    }
  }

  async join() {
    clearError();
    const button = $("queue-join");
    button.disabled = true;
    button.textContent = t("queue.joining");
    try {
      const joined = await this.postJoin();
      this.store.patch({ queueToken: joined.queue_token, entryId: joined.entry_id, firstPosition: undefined });
      this.draw.setEntry(joined.entry_id);
      this.standing(joined);
      this.follow(joined.queue_token);
    } catch (err) {
      showError(errorText(err));
      button.disabled = false;
      button.textContent = t("queue.join");
    }
  }

  /** Line up again with the same token (after being away, or a session that ended). */
  async rejoin() {
    clearError();
    notice("");
    $("queue-rejoin").hidden = true;
    const token = this.store.get("queueToken");
    try {
      const joined = (await call("POST", `${this.api}/queue`, { token, body: {} })).data;
      // The answer names the place to follow (today the same token).
      const next = joined.queue_token || token;
      this.store.patch({ queueToken: next, entryId: joined.entry_id, firstPosition: undefined });
      this.standing(joined);
      this.follow(next);
    } catch (err) {
      showError(errorText(err));
      if (err.status === 401 || err.status === 403) {
        this.store.patch({ queueToken: undefined });
        this.on.gone();
      } else {
        $("queue-rejoin").hidden = false;
      }
    }
  }

  /** Keep the standing of the place `token` names live until the fan's turn. */
  follow(token) {
    this.stop();
    show("queue");
    $("queue-intro").hidden = true;
    $("queue-standing").hidden = false;
    this.link = new QueueLink(this.eventId, token, {
      status: (msg) => this.standing(msg),
      admitted: (msg) => {
        this.standing({ state: "admitted" });
        this.on.admitted({ token: msg.access_token, expiresAt: msg.access_expires_at });
      },
      closed: (reason) => {
        this.standing({ state: "closed" });
        const key = `queue.closed.${reason}`;
        const text = t(key);
        notice(text === key ? t("queue.state.closed") : text);
        $("queue-rejoin").hidden = reason === "sold_out";
      },
      lost: (code) => {
        this.store.patch({ queueToken: undefined });
        showError(errorText({ code }));
        this.on.gone();
      },
      link: (up) => {
        $("queue-reconnecting").hidden = up;
      },
    });
    this.link.start();
  }

  stop() {
    if (this.link) this.link.stop();
    this.link = null;
  }

  /** The page came back to the foreground (a phone woke up): reconnect at once. */
  wake() {
    if (this.link) this.link.reconnectNow();
  }

  /** Show where the fan stands (a push, a poll or the join's answer). */
  standing(msg) {
    $("queue-state").textContent = msg.state;
    $("queue-state-text").textContent = t(`queue.state.${msg.state}`);
    $("queue-sale-opens").hidden = msg.state !== "prequeue";
    const waiting = msg.state === "waiting" && msg.position != null;
    $("queue-numbers").hidden = !waiting;
    if (waiting) this.showNumbers(msg);
    this.speak(msg.state, waiting ? msg.position : null);
  }

  showNumbers(msg) {
    const position = msg.position;
    $("queue-position").textContent = String(position);
    const ahead = msg.ahead ?? position - 1;
    $("queue-ahead").textContent =
      ahead <= 0 ? t("queue.ahead_none") : ahead === 1 ? t("queue.ahead_one") : t("queue.ahead", { n: ahead });
    const eta = msg.eta_seconds ?? 0;
    let etaText =
      eta < 60 ? t("queue.eta_now") : t("queue.eta", { time: duration(eta), p90: duration(msg.eta_p90_seconds ?? eta) });
    // Every place left is held: nobody moves until the first hold ends.
    if (msg.all_held) etaText += ` ${t("queue.all_held", { time: duration(msg.next_release_seconds ?? 0) })}`;
    $("queue-eta-text").textContent = etaText;
    $("queue-sold-out-risk").hidden = !msg.likely_sold_out;
    let first = this.store.get("firstPosition");
    if (!first || first < position) first = this.store.patch({ firstPosition: position }).firstPosition;
    $("queue-progress").value = first > 1 ? Math.round(((first - position) / (first - 1)) * 100) : 100;
  }

  /** The live region: every change of state, the position now and then. */
  speak(state, position) {
    const now = Date.now();
    const heard = this.heard;
    if (state !== heard.state) {
      const key = state === "admitted" ? "queue.announce_admitted" : `queue.state.${state}`;
      announce(position != null ? `${t(key)} ${t("queue.announce_position", { n: position })}` : t(key));
      Object.assign(heard, { state, position, at: now });
    } else if (position != null && position !== heard.position && now - heard.at >= ANNOUNCE_EVERY_MS) {
      announce(t("queue.announce_position", { n: position }));
      Object.assign(heard, { position, at: now });
    }
  }
}
