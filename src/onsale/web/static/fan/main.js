// The fan's page: one URL for the whole visit (waiting room, seat choice,
// checkout, tickets). What a reload needs is in localStorage (storage.js);
// everything else comes from the public API (API.md "Fans").

import { call, uuid, serverNow } from "./api.js";
import { t, money, dateTime, clock, duration } from "./i18n.js";
import { EventStorage } from "./storage.js";
import { QueueLink } from "./queue.js";
import { SeatMap } from "./seatmap.js";
import { renderOrder } from "./tickets.js";
import { DrawPanel } from "./draw.js";
import { solve } from "./pow.js";

const SEATS_REFRESH_MS = 2000;
const ANNOUNCE_EVERY_MS = 30000;
const STEPS = ["before", "queue", "shop", "checkout", "done"];

const $ = (id) => document.getElementById(id);
const root = $("fan");
const eventId = root.dataset.eventId;
const api = `/api/events/${encodeURIComponent(eventId)}`;
const store = new EventStorage(eventId);
const draw = new DrawPanel(eventId, store.get("entryId"));

let event = null;
let link = null;
let map = null;
let access = null; // {token, expiresAt}
let hold = null; // the hold as POST .../holds answered it
let pay = null; // {holdId, body, key}: the Idempotency-Key of the form as last sent
let seatTimer = null;
let warnedHold = false;
const heard = { state: null, position: null, at: 0 };

// ---- messages -------------------------------------------------------------

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function announce(text) {
  $("announcer").textContent = text;
}

/** The fan's words for an API error (ApiError from api.js). */
function errorText(err) {
  const code = err.code || "generic";
  const d = err.details || {};
  if (code === "seats_unavailable") {
    const seats = d.unavailable || [];
    return seats.length ? t("error.seats_unavailable", { seats: seats.join(", ") }) : t("error.seats_unavailable_ga");
  }
  if (code === "limit_exceeded") return t("error.limit_exceeded", { n: limit() });
  if (code === "rate_limited") return t("error.rate_limited", { seconds: err.retryAfter || 60 });
  const key = `error.${code}`;
  const text = t(key);
  return text === key ? t("error.generic", { code }) : text;
}

function show(...steps) {
  for (const step of STEPS) $(`step-${step}`).hidden = !steps.includes(step);
}

function focusHeading(id) {
  const heading = $(id);
  if (heading) heading.focus({ preventScroll: false });
}

function limit() {
  return (event && event.limits && event.limits.per_order) || 6;
}

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
  if (event.status === "scheduled") {
    show("before");
    return;
  }
  if (event.status === "sold_out" || event.status === "closed") {
    show();
    notice(t(`sale.status.${event.status}`));
    return;
  }
  show("queue");
  $("queue-intro").hidden = false;
  $("queue-standing").hidden = true;
  $("queue-join").disabled = false;
  $("queue-join").textContent = t("queue.join");
}

// ---- waiting room ---------------------------------------------------------

async function proofOfWork() {
  const { data } = await call("GET", `${api}/queue/challenge`);
  if (!data.difficulty) return null;
  $("queue-pow").hidden = false;
  try {
    return { challenge: data.challenge, nonce: await solve(data.challenge, data.difficulty) };
  } finally {
    $("queue-pow").hidden = true;
  }
}

async function postJoin() {
  const body = {};
  if (Number(root.dataset.powDifficulty) > 0) body.pow = await proofOfWork();
  try {
    return (await call("POST", `${api}/queue`, { body })).data;
  } catch (err) {
    // The page's hint was stale: the venue turned the proof of work on since.
    const fields = (err.details && err.details.fields) || {};
    if (err.code !== "validation_error" || !fields.pow || body.pow) throw err;
    body.pow = await proofOfWork();
    return (await call("POST", `${api}/queue`, { body })).data;
  }
}

async function join() {
  clearError();
  const button = $("queue-join");
  button.disabled = true;
  button.textContent = t("queue.joining");
  try {
    const joined = await postJoin();
    store.patch({ queueToken: joined.queue_token, entryId: joined.entry_id, firstPosition: undefined });
    draw.setEntry(joined.entry_id);
    standing(joined);
    follow(joined.queue_token);
  } catch (err) {
    showError(errorText(err));
    button.disabled = false;
    button.textContent = t("queue.join");
    if (err.code === "sold_out" || err.code === "sale_not_open") {
      await loadEvent().catch(() => {});
    }
  }
}

/** Line up again with the same token (after being away, or a session that ended). */
async function rejoin() {
  clearError();
  $("queue-rejoin").hidden = true;
  const token = store.get("queueToken");
  try {
    const joined = (await call("POST", `${api}/queue`, { token, body: {} })).data;
    store.patch({ firstPosition: undefined });
    standing(joined);
    follow(token);
  } catch (err) {
    showError(errorText(err));
    if (err.status === 401 || err.status === 403) {
      store.patch({ queueToken: undefined });
      showByStatus();
    } else {
      $("queue-rejoin").hidden = false;
    }
  }
}

function follow(token) {
  if (link) link.stop();
  show("queue");
  $("queue-intro").hidden = true;
  $("queue-standing").hidden = false;
  link = new QueueLink(eventId, token, {
    status: standing,
    admitted: (msg) => {
      access = { token: msg.access_token, expiresAt: msg.access_expires_at };
      store.patch({ access });
      standing({ state: "admitted" });
      enterShop(null);
    },
    closed: (reason) => {
      standing({ state: "closed" });
      const key = `queue.closed.${reason}`;
      const text = t(key);
      notice(text === key ? t("queue.state.closed") : text);
      $("queue-rejoin").hidden = reason === "sold_out";
    },
    lost: (code) => {
      store.patch({ queueToken: undefined });
      showError(errorText({ code }));
      showByStatus();
    },
    link: (up) => {
      $("queue-reconnecting").hidden = up;
    },
  });
  link.start();
}

/** Show where the fan stands (a status push, a poll or the join's answer). */
function standing(msg) {
  $("queue-state").textContent = msg.state;
  $("queue-state-text").textContent = t(`queue.state.${msg.state}`);
  $("queue-sale-opens").hidden = msg.state !== "prequeue";
  const waiting = msg.state === "waiting" && msg.position != null;
  $("queue-numbers").hidden = !waiting;
  if (waiting) {
    const position = msg.position;
    $("queue-position").textContent = String(position);
    const ahead = msg.ahead ?? position - 1;
    $("queue-ahead").textContent =
      ahead <= 0 ? t("queue.ahead_none") : ahead === 1 ? t("queue.ahead_one") : t("queue.ahead", { n: ahead });
    const eta = msg.eta_seconds ?? 0;
    $("queue-eta-text").textContent =
      eta < 60 ? t("queue.eta_now") : t("queue.eta", { time: duration(eta), p90: duration(msg.eta_p90_seconds ?? eta) });
    $("queue-sold-out-risk").hidden = !msg.likely_sold_out;
    let first = store.get("firstPosition");
    if (!first || first < position) first = store.patch({ firstPosition: position }).firstPosition;
    $("queue-progress").value = first > 1 ? Math.round(((first - position) / (first - 1)) * 100) : 100;
  }
  speak(msg.state, waiting ? msg.position : null);
}

/** The live region: every change of state, the position now and then (not every push). */
function speak(state, position) {
  const now = Date.now();
  if (state !== heard.state) {
    const key = state === "admitted" ? "queue.announce_admitted" : `queue.state.${state}`;
    announce(position != null ? `${t(key)} ${t("queue.announce_position", { n: position })}` : t(key));
    Object.assign(heard, { state, position, at: now });
  } else if (position != null && position !== heard.position && now - heard.at >= ANNOUNCE_EVERY_MS) {
    announce(t("queue.announce_position", { n: position }));
    Object.assign(heard, { position, at: now });
  }
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
  if (link) link.stop();
  show("shop");
  $("shop-limit").textContent = t("shop.limit", { n: limit() });
  try {
    if (!map) {
      const seats = await fetchSeats();
      map = new SeatMap($("sections"), event, {
        change: selectionChanged,
        best: (section, quantity) => submitHold({ section, quantity, best_available: true }),
        notice: (text) => showError(text),
      });
      map.build(seats);
      selectionChanged();
    }
  } catch (err) {
    showError(errorText(err));
  }
  startSeatRefresh();
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
      map.drop((err.details && err.details.unavailable) || []);
      showError(errorText(err));
      await refreshSeats();
    } else if (["unauthorized", "token_expired", "forbidden"].includes(err.code)) {
      sessionOver(err);
    } else {
      showError(errorText(err));
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
  renderBreakdown();
  updateHoldTimer();
  focusHeading("checkout-title");
}

function dropHold() {
  hold = null;
  pay = null;
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
  store.patch({ access: undefined, hold: undefined });
  showError(errorText(err));
  const token = store.get("queueToken");
  if (token) follow(token);
  else showByStatus();
}

// ---- checkout -------------------------------------------------------------

function renderBreakdown() {
  const section = event.sections.find((s) => s.code === hold.section);
  const cat = event.categories.find((c) => c.code === (section && section.category)) || event.categories[0];
  const n = hold.quantity || (hold.seats || []).length;
  const price = money(cat.price_cents, cat.currency);
  const rows = [
    [t("checkout.tickets", { n, price }), money(n * cat.price_cents, cat.currency)],
    [t("checkout.fees", { n, fee: money(cat.fee_cents, cat.currency) }), money(n * cat.fee_cents, cat.currency)],
    [t("checkout.total"), money(n * (cat.price_cents + cat.fee_cents), cat.currency)],
  ];
  const body = $("breakdown");
  body.replaceChildren();
  rows.forEach(([label, amount], i) => {
    const tr = document.createElement("tr");
    if (i === rows.length - 1) tr.className = "total";
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = label;
    const td = document.createElement("td");
    td.textContent = amount;
    tr.append(th, td);
    body.append(tr);
  });
  const seatsText = (hold.seats || []).join(", ");
  const caption = document.createElement("caption");
  caption.textContent = seatsText ? t("hold.selected", { seats: seatsText }) : `${hold.section} × ${n}`;
  body.parentElement.querySelector("caption")?.remove();
  body.parentElement.prepend(caption);
  $("checkout-submit").textContent = t("checkout.submit", { total: rows[2][1] });
}

function fieldError(name, text) {
  const input = $(`checkout-${name}`);
  $(`checkout-${name}-error`).textContent = text || "";
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function validate() {
  const values = {
    name: $("checkout-name").value.trim(),
    email: $("checkout-email").value.trim(),
    card: $("checkout-card").value.replace(/[\s-]/g, ""),
  };
  const problems = {};
  for (const [k, v] of Object.entries(values)) if (!v) problems[k] = t("checkout.required");
  if (values.email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) problems.email = t("checkout.bad_email");
  for (const k of ["name", "email", "card"]) fieldError(k, problems[k]);
  const first = ["name", "email", "card"].find((k) => problems[k]);
  if (first) $(`checkout-${first}`).focus();
  return first ? null : values;
}

async function submitCheckout(ev) {
  ev.preventDefault();
  clearError();
  if (!hold) return;
  const values = validate();
  if (!values) return;
  const body = {
    buyer: { email: values.email, name: values.name },
    payment: { provider: "test", card_number: values.card },
  };
  const text = JSON.stringify(body);
  // The same form sent again (a timeout, a double click) reuses its key, so
  // the server answers with the first result instead of charging twice.
  if (!pay || pay.holdId !== hold.hold_id || pay.body !== text) {
    pay = { holdId: hold.hold_id, body: text, key: uuid() };
  }
  const button = $("checkout-submit");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = t("checkout.paying");
  try {
    const { data } = await call("POST", `/api/holds/${encodeURIComponent(hold.hold_id)}/checkout`, {
      token: access.token,
      body,
      headers: { "Idempotency-Key": pay.key },
    });
    paid(data);
  } catch (err) {
    checkoutFailed(err);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function checkoutFailed(err) {
  if (err.code === "hold_expired") {
    holdExpired("error.hold_expired");
    return;
  }
  if (["unauthorized", "token_expired", "forbidden"].includes(err.code)) {
    sessionOver(err);
    return;
  }
  showError(errorText(err));
  if (err.code === "payment_declined") {
    fieldError("card", t("error.payment_declined"));
    $("checkout-card").focus();
    $("checkout-card").select();
  } else if (err.code === "validation_error") {
    const fields = (err.details && err.details.fields) || {};
    for (const key of Object.keys(fields)) {
      const name = ["email", "name", "card"].find((n) => key.includes(n));
      if (name) fieldError(name, String(fields[key]));
    }
  } else if (err.code === "sold_out") {
    dropHold();
    refreshSeats();
  }
}

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
  renderOrder($("order-confirmation"), order);
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
    const end = Date.parse(access.expiresAt) - (event.hold_seconds || 0) * 1000;
    $("shop-session").textContent = t("shop.session", { time: clock((end - now) / 1000) });
  }
  updateHoldTimer();
}

// ---- start ----------------------------------------------------------------

async function start() {
  $("queue-join").addEventListener("click", join);
  $("queue-rejoin").addEventListener("click", rejoin);
  $("hold-submit").addEventListener("click", () => submitHold(map && map.request()));
  $("hold-release").addEventListener("click", releaseHold);
  $("checkout-form").addEventListener("submit", submitCheckout);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    if (seatTimer) refreshSeats();
    if (link) link.reconnectNow();
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
  setInterval(everySecond, 1000);
  everySecond();
  const saved = store.load();
  if (saved.order && (await loadOrder(saved.order))) return;
  if (saved.access && Date.parse(saved.access.expiresAt) > serverNow()) {
    access = saved.access;
    await enterShop(saved.hold);
  } else if (saved.queueToken) {
    store.patch({ access: undefined, hold: undefined });
    follow(saved.queueToken);
  } else {
    showByStatus();
  }
  everySecond();
}

start();
