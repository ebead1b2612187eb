// The fan's place in the waiting room, kept live: a websocket that pushes the
// standing (API.md "The waiting room"), reconnected with a growing, jittered
// delay after a drop, and a status poll while the socket is down. The queue
// token names the place, so reconnecting never loses it.

import { call, ApiError } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const POLL_MS = 3000;
const CLOSE_BAD_TOKEN = 4401;
const CLOSE_UNKNOWN_EVENT = 4404;
// A draining node (a deploy) says 1012: another node takes the fan at once.
// A short jittered delay, not the backoff: the node already spreads its fans
// over seconds, and the link is not down, so no status poll either.
const CLOSE_SERVICE_RESTART = 1012;
const RESTART_DELAY_MS = [100, 1000];

export class QueueLink {
  /**
   * handlers: status(msg), admitted({access_token, access_expires_at}),
   * closed(reason), lost(code) (the token or event is gone), link(up: bool).
   */
  constructor(eventId, token, handlers) {
    this.eventId = eventId;
    this.token = token;
    this.on = handlers;
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
    this.retryTimer = null;
    this.pollTimer = null;
    this.onOnline = () => this.reconnectNow();
    window.addEventListener("online", this.onOnline);
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pollTimer);
    window.removeEventListener("online", this.onOnline);
    if (this.socket) {
      const s = this.socket;
      this.socket = null;
      s.close();
    }
  }

  connect() {
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url =
      `${scheme}://${location.host}/ws/events/${encodeURIComponent(this.eventId)}` +
      `/queue?token=${encodeURIComponent(this.token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onmessage = (ev) => {
      this.attempt = 0;
      this.linkUp(true);
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    socket.onclose = (ev) => {
      if (socket !== this.socket || this.stopped) return;
      this.socket = null;
      if (ev.code === CLOSE_BAD_TOKEN || ev.code === CLOSE_UNKNOWN_EVENT) {
        this.stop();
        this.on.lost(ev.code === CLOSE_BAD_TOKEN ? "unauthorized" : "not_found");
        return;
      }
      if (ev.code === CLOSE_SERVICE_RESTART && this.attempt === 0) {
        this.attempt = 1; // should the next socket fail too, back off as usual
        const [low, high] = RESTART_DELAY_MS;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.connect(), low + Math.random() * (high - low));
        return;
      }
      this.linkUp(false);
      this.scheduleRetry();
    };
  }

  dispatch(msg) {
    if (msg.type === "status") this.on.status(msg);
    else if (msg.type === "admitted") {
      this.stop();
      this.on.admitted(msg);
    } else if (msg.type === "closed") {
      this.stop();
      this.on.closed(msg.reason || "closed");
    }
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const delay = base * (0.8 + Math.random() * 0.4);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  linkUp(up) {
    if (up) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    } else if (!this.pollTimer) {
      this.pollTimer = setInterval(() => this.poll(), POLL_MS);
      this.poll();
    }
    this.on.link(up);
  }

  /** The standing over plain HTTP, while the socket is down. */
  async poll() {
    if (this.stopped) return;
    try {
      const { data } = await call(
        "GET",
        `/api/events/${encodeURIComponent(this.eventId)}/queue/status`,
        { token: this.token },
      );
      if (this.stopped) return;
      if (data.state === "admitted" && data.access_token) {
        this.dispatch({ type: "admitted", ...data });
      } else if (data.state === "closed") {
        this.dispatch({ type: "closed", reason: data.reason });
      } else {
        this.on.status({ type: "status", ...data });
      }
    } catch (err) {
      // The network is still down, or the entry is unknown (the socket,
      // once back, joins it again with the same token): keep trying.
      if (err instanceof ApiError && (err.code === "unauthorized" || err.code === "forbidden")) {
        this.stop();
        this.on.lost("unauthorized");
      }
    }
  }
}
