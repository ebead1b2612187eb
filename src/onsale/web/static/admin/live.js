// The live on-sale view of one event: it polls the stats every 2 s and, when
// they say something changed, the orders (table and chart) and the seats.

import { call } from "./api.js";
import { boxOfficePanel } from "./boxoffice.js";
import { perMinute, salesChart } from "./chart.js";
import { h, replace } from "./dom.js";
import { clock, count, money, t } from "./i18n.js";
import { ordersPanel } from "./orders.js";
import { can } from "./who.js";

const POLL_MS = 2000;
const CHART_MINUTES = 30;
// Seats can change state without the totals moving (one hold ends as another
// starts): the map is fetched again at least this often.
const SEATS_EVERY_TICKS = 5;

function tile(testid, label, extra) {
  const value = h("span", { class: "value", testid, "data-value": "" }, "…");
  const note = extra ? h("span", { class: "note", testid: `${testid}-note` }) : null;
  return { value, note, element: h("div", { class: "tile" }, h("span", { class: "label" }, label), value, note) };
}

function setTile(item, number, text) {
  item.value.dataset.value = String(number);
  item.value.textContent = text ?? count(number);
}

function seatMap(sectionCode, seats, onPick) {
  const rows = new Map();
  for (const seat of seats) {
    const row = rows.get(seat.row) || [];
    row.push(seat);
    rows.set(seat.row, row);
  }
  const buttons = new Map();
  const grid = h(
    "div",
    { class: "seatmap", testid: `admin-seatmap-${sectionCode}`, role: "group", "aria-label": sectionCode },
    [...rows.entries()].map(([row, list]) =>
      h(
        "div",
        { class: "seat-row" },
        h("span", { class: "row-label", "aria-hidden": "true" }, row),
        list.map((seat) => {
          const button = h(
            "button",
            { type: "button", class: "seat", testid: `admin-seat-${seat.id}`, onclick: () => onPick(seat.id, button) },
            String(seat.number),
          );
          buttons.set(seat.id, button);
          return button;
        }),
      ),
    ),
  );
  return { grid, buttons };
}

/**
 * Render the live view of event `eventId` into `root`. Returns a function
 * that stops its polling (called when the venue leaves the view).
 */
export async function liveView(root, eventId, { notify, fail, openSale }) {
  const base = `/api/admin/events/${encodeURIComponent(eventId)}`;
  const event = await call("GET", base);
  const seated = event.sections.filter((s) => s.kind === "seated");
  let stopped = false;
  let busy = false;
  let again = false; // a forced refresh asked for while one was running
  let ticks = 0;
  let last = {};
  let orders = [];
  let seatButtons = new Map();

  const status = h("span", { class: "badge", testid: "admin-live-status" });
  const updated = h("p", { class: "muted", testid: "admin-live-updated", "aria-live": "off" });
  const tiles = {
    waiting: tile("admin-stat-waiting", t("waiting")),
    admitted: tile("admin-stat-admitted", t("admitted")),
    active: tile("admin-stat-active", t("active")),
    held: tile("admin-stat-held", t("held")),
    sold: tile("admin-stat-sold", t("sold"), true),
    available: tile("admin-stat-available", t("available")),
    orders: tile("admin-stat-orders", t("orders")),
    revenue: tile("admin-stat-revenue", t("revenue")),
  };
  const chartBox = h("div", { class: "chart-box" });

  const ordersBox = ordersPanel({
    eventId,
    onRefunded: (order) => {
      notify(t("refunded", { id: order.order_id }));
      tick(true);
    },
    onResent: (order) => notify(t("resent", { id: order.order_id })),
    onError: fail,
  });
  const boxOffice = boxOfficePanel({ event, onSold: () => tick(true), onError: fail });

  function pick(seatId, button) {
    if (!can("boxoffice")) return;
    if (button.dataset.state !== "free" && !button.hasAttribute("aria-pressed")) return;
    const chosen = boxOffice.toggleSeat(seatId);
    if (chosen) button.setAttribute("aria-pressed", "true");
    else button.removeAttribute("aria-pressed");
  }

  const seatsBox = h("div", { class: "seat-sections" });
  let openButton = null;
  const heading = h("h1", { tabindex: -1 }, event.name, " ", status);
  replace(
    root,
    h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)),
    heading,
    h(
      "div",
      { class: "toolbar" },
      h("a", { href: `/e/${encodeURIComponent(eventId)}?lang=${event.language}`, target: "_blank", rel: "noopener", testid: "admin-fan-link" }, t("fanPage"), ` /e/${eventId}`),
      can("event_write") ? h("a", { href: `#/events/${encodeURIComponent(eventId)}/edit`, testid: "admin-edit-link" }, t("edit")) : null,
      can("door_keys") ? h("a", { href: `#/events/${encodeURIComponent(eventId)}/door`, testid: "admin-door-link" }, t("door")) : null,
      openButton = h(
        "button",
        {
          type: "button",
          hidden: true,
          testid: "admin-open-sale",
          onclick: async () => {
            if (await openSale(event)) tick(true);
          },
        },
        t("openSaleNow"),
      ),
    ),
    updated,
    h(
      "section",
      { class: "panel", "aria-labelledby": "stats-title", testid: "admin-stats" },
      h("h2", { id: "stats-title", class: "visually-hidden" }, t("liveView")),
      h("h3", {}, t("queue")),
      h("div", { class: "tiles" }, tiles.waiting.element, tiles.admitted.element, tiles.active.element),
      h("h3", {}, t("tickets")),
      h(
        "div",
        { class: "tiles" },
        tiles.sold.element,
        tiles.held.element,
        tiles.available.element,
        tiles.orders.element,
        tiles.revenue.element,
      ),
    ),
    h("section", { class: "panel", "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title" }, t("salesPerMinute", { minutes: CHART_MINUTES })), chartBox),
    seated.length
      ? h(
          "section",
          { class: "panel", "aria-labelledby": "seats-title", testid: "admin-seats" },
          h("h2", { id: "seats-title" }, t("seatOverview")),
          h(
            "p",
            { class: "legend" },
            ["free", "held", "sold"].map((state) => h("span", { class: `seat demo ${state}`, "data-state": state }, t(`seat.${state}`))),
          ),
          h("p", { class: "help" }, t("seatPickHelp")),
          seatsBox,
        )
      : null,
    ordersBox.element,
    can("boxoffice") ? boxOffice.element : null,
  );
  heading.focus();

  function renderStats(stats) {
    status.textContent = t(`status.${stats.status}`);
    status.className = `badge ${stats.status}`;
    status.dataset.status = stats.status;
    // Opening "now" a sale already open would only move its recorded opening.
    openButton.hidden = !can("event_write") || !["scheduled", "prequeue"].includes(stats.status);
    setTile(tiles.waiting, stats.queue.waiting);
    setTile(tiles.admitted, stats.queue.admitted);
    setTile(tiles.active, stats.queue.active);
    setTile(tiles.held, stats.held);
    setTile(tiles.sold, stats.sold);
    tiles.sold.note.textContent = t("ofCapacity", { capacity: count(stats.capacity) });
    setTile(tiles.available, stats.available);
    setTile(tiles.orders, stats.orders);
    setTile(tiles.revenue, stats.revenue_cents, money(stats.revenue_cents, stats.currency));
  }

  function renderSeats(seats) {
    if (seatButtons.size === 0) {
      const maps = seated.map((section) => {
        const map = seatMap(section.code, seats.filter((seat) => seat.section === section.code), pick);
        for (const [id, button] of map.buttons) seatButtons.set(id, button);
        return h("div", { class: "seat-section" }, h("h3", {}, section.code), map.grid);
      });
      replace(seatsBox, maps);
    }
    const chosen = new Set(boxOffice.selected());
    for (const seat of seats) {
      const button = seatButtons.get(seat.id);
      if (!button) continue;
      button.dataset.state = seat.state;
      button.setAttribute("aria-label", t("seatLabel", { seat: seat.id, state: t(`seat.${seat.state}`) }));
      button.title = button.getAttribute("aria-label");
      if (!chosen.has(seat.id)) button.removeAttribute("aria-pressed");
    }
  }

  async function tick(force = false) {
    if (stopped) return;
    if (busy) {
      again = again || force;
      return;
    }
    busy = true;
    ticks += 1;
    try {
      const stats = await call("GET", `${base}/stats`);
      if (stopped) return;
      renderStats(stats);
      const ordersChanged = force || stats.orders !== last.orders || stats.refunded_orders !== last.refunded_orders;
      const seatsChanged = force || stats.sold !== last.sold || stats.held !== last.held || ticks % SEATS_EVERY_TICKS === 0;
      last = stats;
      if (ordersChanged) {
        orders = (await call("GET", `${base}/orders`)).orders;
        await ordersBox.refresh(orders);
      }
      replace(chartBox, salesChart(perMinute(orders, Date.now(), CHART_MINUTES)));
      if (seated.length && seatsChanged) {
        renderSeats((await call("GET", `/api/events/${encodeURIComponent(eventId)}/seats`)).seats);
      }
      updated.textContent = t("updatedAt", { time: clock(new Date()) });
      updated.dataset.stale = "false";
      root.dataset.ticks = String(ticks);
    } catch (exc) {
      if (exc.status === 401) {
        fail(exc);
        return;
      }
      // A blip (a restart, the network): say so and keep polling.
      updated.textContent = t("stale", { time: clock(new Date()) });
      updated.dataset.stale = "true";
    } finally {
      busy = false;
      if (again) {
        again = false;
        tick(true);
      }
    }
  }

  const timer = setInterval(tick, POLL_MS);
  await tick(true);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
