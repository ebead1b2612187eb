// The orders of an event: a searchable table, the CSV export and refunds.

import { call, download } from "./api.js";
import { can } from "./who.js";
import { h, replace } from "./dom.js";
import { dateTime, money, t } from "./i18n.js";

function places(order) {
  const bySection = new Map();
  for (const ticket of order.tickets) {
    const list = bySection.get(ticket.section) || [];
    list.push(ticket);
    bySection.set(ticket.section, list);
  }
  return [...bySection.entries()]
    .map(([section, tickets]) =>
      tickets[0].seat ? tickets.map((ticket) => ticket.seat).join(", ") : `${section} × ${tickets.length}`,
    )
    .join("; ");
}

/**
 * The orders panel of event `eventId`. `refresh(allOrders)` shows the newest
 * list (filtered by the search box through the API's `?q=`); `onRefunded()`
 * runs after a refund so the live view refreshes at once; `onError(exc)`
 * shows a failure.
 */
export function ordersPanel({ eventId, onRefunded, onResent, onError }) {
  const base = `/api/admin/events/${encodeURIComponent(eventId)}`;
  let all = [];
  let query = "";
  let searchTimer = null;
  let pending = null;

  const body = h("tbody", {});
  const table = h(
    "table",
    { class: "orders", testid: "admin-orders-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [t("orderId"), t("created"), t("buyer"), t("channel"), t("tickets"), t("total"), t("status"), t("actions")].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
    body,
  );
  const empty = h("p", { testid: "admin-orders-empty", hidden: true }, t("noOrders"));

  const dialogText = h("p", { testid: "admin-refund-text" });
  const dialog = h(
    "dialog",
    { class: "confirm", testid: "admin-refund-dialog", "aria-labelledby": "refund-title" },
    h("h3", { id: "refund-title" }, t("refundTitle")),
    dialogText,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", autofocus: true, testid: "admin-refund-cancel", onclick: () => dialog.close() }, t("cancel")),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          testid: "admin-refund-confirm",
          onclick: () => {
            dialog.close();
            if (pending) refund(pending);
          },
        },
        t("refundConfirm"),
      ),
    ),
  );

  async function refund(order) {
    try {
      await call("POST", `/api/admin/orders/${encodeURIComponent(order.order_id)}/refund`);
      onRefunded(order);
    } catch (exc) {
      onError(exc);
    }
  }

  async function resend(order) {
    try {
      await call("POST", `/api/admin/orders/${encodeURIComponent(order.order_id)}/resend`);
      if (onResent) onResent(order);
    } catch (exc) {
      onError(exc);
    }
  }

  function ask(order) {
    pending = order;
    dialogText.textContent = t("refundText", {
      id: order.order_id,
      buyer: order.buyer.name || order.buyer.email,
      total: money(order.total_cents, order.currency),
    });
    dialog.showModal();
  }

  function row(order) {
    const id = order.order_id;
    return h(
      "tr",
      { testid: `admin-order-${id}`, "data-status": order.status },
      h("td", { class: "mono" }, id),
      h("td", {}, dateTime(order.created_at)),
      h("td", {}, order.buyer.name, h("br"), h("span", { class: "muted" }, order.buyer.email)),
      h("td", {}, t(`channel.${order.channel}`)),
      h("td", {}, places(order)),
      h("td", { class: "num" }, money(order.total_cents, order.currency)),
      h("td", { testid: `admin-order-status-${id}` }, h("span", { class: `badge ${order.status}` }, t(`order.${order.status}`))),
      h(
        "td",
        {},
        order.status === "paid"
          ? [
              can("refund")
                ? h(
                    "button",
                    { type: "button", class: "danger small", testid: `admin-refund-${id}`, "aria-label": `${t("refund")} ${id}`, onclick: () => ask(order) },
                    t("refund"),
                  )
                : null,
              " ",
              can("resend_email")
                ? h(
                    "button",
                    { type: "button", class: "small", testid: `admin-resend-${id}`, "aria-label": `${t("resend")} ${id}`, onclick: () => resend(order) },
                    t("resend"),
                  )
                : null,
            ]
          : null,
      ),
    );
  }

  async function show() {
    let shown = all;
    if (query) {
      const asked = query;
      const found = await call("GET", `${base}/orders?q=${encodeURIComponent(asked)}`);
      if (asked !== query) return; // a newer search is on its way
      shown = found.orders;
    }
    // Newest first: that is where a sale in progress shows up.
    shown = [...shown].sort((a, b) => b.created_at.localeCompare(a.created_at));
    replace(body, shown.map(row));
    empty.hidden = shown.length > 0;
    table.dataset.count = String(shown.length);
  }

  const search = h("input", {
    type: "search",
    id: "orders-search",
    testid: "admin-orders-search",
    autocomplete: "off",
    oninput: (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        query = e.target.value.trim();
        show().catch(onError);
      }, 250);
    },
  });

  const exportButton = h(
    "button",
    {
      type: "button",
      testid: "admin-orders-export",
      onclick: async () => {
        try {
          await download(`${base}/orders.csv`, `orders-${eventId}.csv`, "text/csv");
        } catch (exc) {
          onError(exc);
        }
      },
    },
    t("exportCsv"),
  );

  const element = h(
    "section",
    { class: "panel", "aria-labelledby": "orders-title", testid: "admin-orders" },
    h("h2", { id: "orders-title" }, t("orders")),
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "orders-search" }, t("search")), search),
      can("export") ? exportButton : null,
    ),
    h("div", { class: "scroll" }, table),
    empty,
    dialog,
  );

  return {
    element,
    async refresh(orders) {
      all = orders;
      await show();
    },
  };
}
