// The confirmation: the order id and one block per ticket, its code drawn as
// a QR code (vendored qrcode-generator, MIT: static/vendor/qrcode-generator/).

import qrcode from "../vendor/qrcode-generator/qrcode.mjs";
import { t, money } from "./i18n.js";

function qrSvg(code, index) {
  const qr = qrcode(0, "M");
  qr.addData(code);
  qr.make();
  return qr.createSvgTag({
    cellSize: 4,
    margin: 8,
    scalable: true,
    title: { text: t("done.qr", { code }), id: `qr-title-${index}` },
  });
}

function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value;
  if (className) node.className = className;
  return node;
}

/** The order and its tickets; with `token`, a link to the order's own page
 * (the token in the fragment: never sent to a server, never in a log). */
export function renderOrder(container, order, token = null) {
  container.replaceChildren();
  container.dataset.orderId = order.order_id;
  container.append(text("p", t("done.order", { id: order.order_id }), "order-id"));
  container.append(text("p", t("done.total", { total: money(order.total_cents, order.currency) })));
  if (order.status === "refunded") container.append(text("p", t("done.refunded"), "warning"));
  const list = document.createElement("ol");
  list.className = "tickets";
  order.tickets.forEach((ticket, i) => {
    const item = document.createElement("li");
    item.className = "ticket";
    item.dataset.testid = "ticket";
    item.setAttribute("data-testid", "ticket");
    item.dataset.code = ticket.code;
    item.append(text("h3", t("done.ticket", { n: i + 1 })));
    if (ticket.number != null) {
      item.append(text("p", t("done.number", { number: ticket.number }), "number"));
    }
    item.append(
      text(
        "p",
        ticket.seat
          ? t("done.seat", { section: ticket.section, seat: ticket.seat })
          : t("done.ga", { section: ticket.section }),
      ),
    );
    const qr = document.createElement("div");
    qr.className = "qr";
    qr.innerHTML = qrSvg(ticket.code, i);
    item.append(qr);
    item.append(text("p", t("done.code", { code: ticket.code }), "code"));
    if (ticket.status === "void") item.append(text("p", t("done.void"), "warning"));
    list.append(item);
  });
  container.append(list);
  if (token) {
    const link = document.createElement("a");
    link.href = `/o/${encodeURIComponent(order.order_id)}#${token}`;
    link.textContent = t("done.page");
    link.setAttribute("data-testid", "order-page-link");
    container.append(link);
  }
}
