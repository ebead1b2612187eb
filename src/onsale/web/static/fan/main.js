// The fan's page: one URL for the whole visit (waiting room, seat choice,
// checkout, tickets). What a reload needs is in localStorage (storage.js);
// everything else comes from the public API (API.md "Fans").

import { call, serverNow } from "./api.js";
import { t, dateTime, clock } from "./i18n.js";
import { EventStorage } from "./storage.js";
import { SeatMap } from "./seatmap.js";
import { renderOrder } from "./tickets.js";
import { DrawPanel } from "./draw.js";
import { WaitingRoom } from "./waitingroom.js";
import { Checkout } from "./checkout.js";
import { showError, clearError, notice, announce, errorText, show, focusHeading, SESSION_CODES } from "./messages.js";

const SEATS_REFRESH_MS = 2000;
// While shopping, the page says the fan is there this often (POST
// .../presence): an admitted fan unseen for the event's shopper grace (20 s by
// default) who holds nothing gives their slot and their claim on the stock to
// the next fan. A hidden tab keeps beating (a fan still deciding is there); a
// closed one does not.
const PRESENCE_MS = 5000;

const $ = (id) => document.getElementById(id);
const root = $("fan");
const eventId = root.dataset.eventId;
const api = `/api/events/${encodeURIComponent(eventId)}`;
const store = new EventStorage(eventId);
const draw = new DrawPanel(eventId, store.get("entryId"));

let event = null;
let map = null;
let access = null; // {token, expiresAt}
let hold = null; // the hold as POST .../holds answered it
let seatTimer = null;
let warnedHold = false;
let lastBeat = 0;

const room = new WaitingRoom(eventId, store, draw, Number(root.dataset.powDifficulty), {
  admitted: (granted) => {
    access = granted;
    store.patch({ access });
    enterShop(null);
  },
  gone: () => showByStatus(),
});

const checkout = new Checkout({
  token: () => access && access.token,
  paid,
  holdGone: (key) => holdExpired(key),
  sessionOver,
  soldOut: () => {
    dropHold();
    refreshSeats();
  },
});

const limit = () => (event && event.limits && event.limits.per_order) || 6;

// ---- event ----------------------------------------------------------------

async function loadEvent() {
  event = (await call("GET", api)).data;
  const facts = $("event-facts");
  facts.replaceChildren();
  const add = (text) => {
    const li = document.createElement("li");
    li.textContent = text;
    facts.append(li);
  };
  add(t("event.starts", { date: dateTime(event.starts_at) }));
  if (event.status === "scheduled") add(t("event.prequeue_opens", { date: dateTime(event.sale.prequeue_opens_at) }));
  add(t("event.sale_opens", { date: dateTime(event.sale.opens_at) }));
}

/** The page for a fan with no place, hold or order yet, by the sale's status. */
function showByStatus() {
  notice("");
  if (event.status === "scheduled") show("before");
  else if (event.status === "sold_out" || event.status === "closed") {
    show();
    notice(t(`sale.status.${event.status}`));
  } else room.offerJoin();
}

// ---- seat choice ----------------------------------------------------------

const hasSeats = () => event.sections.some((s) => s.kind === "seated");

async function fetchSeats() {
  return hasSeats() ? (await call("GET", `${api}/seats`)).data.seats : [];
}

async function refreshSeats() {
  try {
    const [seats, fresh] = await Promise.all([fetchSeats(), call("GET", api)]);
    event = fresh.data;
    if (map) map.update(seats, event);
  } catch {
    // A missed refresh is retried on the next tick.
  }
}

function startSeatRefresh() {
  clearInterval(seatTimer);
  seatTimer = setInterval(() => {
    if (!document.hidden) refreshSeats();
  }, SEATS_REFRESH_MS);
}

function stopSeatRefresh() {
  clearInterval(seatTimer);
  seatTimer = null;
}

function selectionChanged() {
  const chosen = map.selected.size ? map.sortedSelection() : [];
  $("hold-selection").textContent = chosen.length
    ? t("hold.selected", { seats: chosen.join(", ") })
    : t("hold.selected_none");
}

async function enterShop(savedHold) {
  room.stop();
  show("shop");
  $("shop-limit").textContent = t("shop.limit", { n: limit() });
  try {
    if (!map) {
      const seats = await fetchSeats();
      map = new SeatMap($("sections"), event, {
        change: selectionChanged,
        best: (section, quantity) => submitHold({ section, quantity, best_available: true }),
        notice: showError,
      });
      map.build(seats);
      selectionChanged();
    }
  } catch (err) {
    showError(errorText(err, limit()));
  }
  startSeatRefresh();
  everySecond();
  if (savedHold && Date.parse(savedHold.expires_at) > serverNow()) setHold(savedHold);
  else {
    store.patch({ hold: undefined });
    focusHeading("shop-title");
  }
}

async function submitHold(request) {
  clearError();
  if (!request) {
    showError(t("error.choose"));
    return;
  }
  const count = request.seats ? request.seats.length : request.quantity;
  if (!Number.isInteger(count) || count < 1 || count > limit()) {
    showError(t("error.too_many", { n: limit() }));
    return;
  }
  const button = $("hold-submit");
  button.disabled = true;
  button.textContent = t("hold.holding");
  try {
    const { data } = await call("POST", `${api}/holds`, { token: access.token, body: request });
    setHold(data);
  } catch (err) {
    if (err.code === "seats_unavailable") {
      // The seats someone else took leave the choice, and the map shows them at once.
      map.drop((err.details && err.details.unavailable) || []);
      showError(errorText(err));
      await refreshSeats();
    } else if (SESSION_CODES.includes(err.code)) {
      sessionOver(err);
    } else {
      showError(errorText(err, limit()));
    }
  } finally {
    button.disabled = false;
    button.textContent = t("hold.submit");
  }
}

function setHold(h) {
  hold = h;
  warnedHold = false;
  store.patch({ hold: h });
  map.setMine(h.seats || []);
  show("shop", "checkout");
  checkout.open(h, event);
  updateHoldTimer();
  focusHeading("checkout-title");
}

function dropHold() {
  hold = null;
  checkout.close();
  store.patch({ hold: undefined });
  if (map) map.setMine([]);
  show("shop");
}

function holdExpired(messageKey) {
  dropHold();
  showError(t(messageKey));
  refreshSeats();
  focusHeading("shop-title");
}

async function releaseHold() {
  if (!hold) return;
  const id = hold.hold_id;
  const seats = map.sortedSelection();
  dropHold();
  map.selected = new Set(seats); // the fan changes the choice, not starts over
  map.refreshAll();
  selectionChanged();
  try {
    await call("DELETE", `/api/holds/${encodeURIComponent(id)}`, { token: access.token });
  } catch {
    // Gone already (expired or replaced): the seats are back on sale either way.
  }
  refreshSeats();
  focusHeading("shop-title");
}

/** The access token no longer buys anything: back to the waiting room. */
function sessionOver(err) {
  access = null;
  dropHold();
  stopSeatRefresh();
  store.patch({ access: undefined });
  showError(errorText(err));
  const token = store.get("queueToken");
  if (token) room.follow(token);
  else showByStatus();
}

// ---- tickets --------------------------------------------------------------

function paid(order) {
  stopSeatRefresh();
  store.patch({
    order: { id: order.order_id, token: order.order_token },
    hold: undefined,
    access: undefined,
    queueToken: undefined,
    firstPosition: undefined,
  });
  hold = null;
  access = null;
  showOrder(order);
}

function showOrder(order) {
  show("done");
  renderOrder($("order-confirmation"), order, (store.get("order") || {}).token);
  focusHeading("done-title");
}

/** The order kept on this device, from the server; false when it is gone. */
async function loadOrder(saved) {
  try {
    const { data } = await call("GET", `/api/orders/${encodeURIComponent(saved.id)}`, { token: saved.token });
    showOrder(data);
    return true;
  } catch (err) {
    if (err.code === "network" || err.status >= 500) {
      showError(errorText(err));
      return true;
    }
    store.patch({ order: undefined });
    return false;
  }
}

// ---- clocks ---------------------------------------------------------------

function updateHoldTimer() {
  if (!hold) return;
  const left = (Date.parse(hold.expires_at) - serverNow()) / 1000;
  $("hold-expires").textContent = clock(left);
  if (left <= 60 && !warnedHold) {
    warnedHold = true;
    announce(t("hold.expiring"));
  }
  if (left <= 0) holdExpired("error.hold_expired_page");
}

/** The shopper's heartbeat, at most once every PRESENCE_MS. */
function presence() {
  if (!access || $("step-shop").hidden || Date.now() - lastBeat < PRESENCE_MS) return;
  lastBeat = Date.now();
  // A lost beat is made up by the next; a session that ended shows at the next hold.
  call("POST", `${api}/presence`, { token: access.token }).catch(() => {});
}

function everySecond() {
  if (!event) return;
  const now = serverNow();
  if (!$("step-before").hidden) {
    const left = (Date.parse(event.sale.prequeue_opens_at) - now) / 1000;
    $("before-countdown").textContent = t("before.countdown", { time: clock(left) });
    if (left <= 0) loadEvent().then(showByStatus, () => {});
  }
  const opens = (Date.parse(event.sale.opens_at) - now) / 1000;
  for (const id of ["queue-opens", "queue-sale-opens"]) {
    $(id).textContent = t("queue.opens_in", { time: clock(opens) });
  }
  $("queue-opens").hidden = opens <= 0;
  if (opens <= 0) $("queue-sale-opens").hidden = true;
  if (access && !$("step-shop").hidden) {
    // The access token outlives the shopping session by one hold's time.
    const end = Date.parse(access.expiresAt) - (event.hold_seconds || 0) * 1000;
    $("shop-session").textContent = t("shop.session", { time: clock((end - now) / 1000) });
    if (end <= now && !hold) sessionOver({ code: "token_expired" });
  }
  presence();
  updateHoldTimer();
}

// ---- start ----------------------------------------------------------------

async function start() {
  $("hold-submit").addEventListener("click", () => submitHold(map && map.request()));
  $("hold-release").addEventListener("click", releaseHold);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    if (seatTimer) refreshSeats();
    room.wake();
  });
  try {
    await loadEvent();
  } catch (err) {
    showError(errorText(err));
    return;
  } finally {
    root.setAttribute("aria-busy", "false");
  }
  draw.setEntry(store.get("entryId"));
  draw.load();
  const saved = store.load();
  if (saved.order && (await loadOrder(saved.order))) {
    // Tickets bought on this device: they are what the fan came back for.
  } else if (saved.access && Date.parse(saved.access.expiresAt) > serverNow()) {
    access = saved.access;
    await enterShop(saved.hold);
  } else if (saved.queueToken) {
    store.patch({ access: undefined, hold: undefined });
    room.follow(saved.queueToken);
  } else {
    showByStatus();
  }
  everySecond();
  setInterval(everySecond, 1000);
}

start();
