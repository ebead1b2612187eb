// Selling at the counter: the same stock as the online sale, no queue.
// Body (admin/routes.py boxoffice): a hold's body ({"seats": [...]} or
// {"section", "quantity", "best_available"}) plus "buyer" and "payment"
// ({"provider": "cash"} or {"provider": "test", "card_number"}).

import { call, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { clearErrors, field, numberInput, select, showErrors, textInput } from "./fields.js";
import { money, t } from "./i18n.js";

const TEST_CARD = "4242424242424242";

export function boxOfficePanel({ event, onSold, onError }) {
  const sectionInput = select(
    event.sections.map((s) => [s.code, `${s.code} (${t(`kind.${s.kind}`)})`]),
    event.sections[0]?.code,
  );
  const seatsInput = textInput("", { class: "wide" });
  const quantityInput = numberInput("1", { min: 1, max: 100, class: "short" });
  const nameInput = textInput("", { autocomplete: "off" });
  const emailInput = h("input", { type: "email", autocomplete: "off" });
  const paymentInput = select(
    [
      ["cash", t("payment.cash")],
      ["test", t("payment.test")],
    ],
    "cash",
  );
  const cardInput = textInput(TEST_CARD, { inputmode: "numeric" });

  const seatsField = field("seats", t("boxSeats"), seatsInput, t("boxSeatsHelp"));
  const cardField = field("payment.card_number", t("cardNumber"), cardInput);
  const summary = h("div", { class: "form-errors", role: "alert", testid: "admin-boxoffice-errors", hidden: true });
  const result = h("div", { class: "result", testid: "admin-boxoffice-result", role: "status", hidden: true });

  const section = () => event.sections.find((s) => s.code === sectionInput.value);

  function sync() {
    seatsField.hidden = section()?.kind !== "seated";
    cardField.hidden = paymentInput.value !== "test";
  }
  sectionInput.addEventListener("change", sync);
  paymentInput.addEventListener("change", sync);

  for (const [input, id] of [
    [sectionInput, "section"],
    [quantityInput, "quantity"],
    [nameInput, "name"],
    [emailInput, "email"],
    [paymentInput, "payment"],
    [cardInput, "card"],
    [seatsInput, "seats"],
  ]) {
    input.dataset.box = id;
  }

  function seatList() {
    return seatsInput.value
      .split(/[\s,;]+/)
      .map((seat) => seat.trim().toUpperCase())
      .filter(Boolean);
  }

  function body() {
    const seats = section()?.kind === "seated" ? seatList() : [];
    const quantity = Number.parseInt(quantityInput.value, 10);
    const place = seats.length
      ? { seats }
      : {
          section: sectionInput.value,
          quantity: Number.isNaN(quantity) ? quantityInput.value : quantity,
          ...(section()?.kind === "seated" ? { best_available: true } : {}),
        };
    const payment = paymentInput.value === "cash" ? { provider: "cash" } : { provider: "test", card_number: cardInput.value.trim() };
    return { ...place, buyer: { name: nameInput.value, email: emailInput.value.trim() }, payment };
  }

  function showOrder(order) {
    replace(
      result,
      h("p", {}, t("soldAtCounter", { id: order.order_id, total: money(order.total_cents, order.currency) })),
      h(
        "ul",
        {},
        order.tickets.map((ticket) =>
          h(
            "li",
            { testid: "admin-boxoffice-ticket", "data-seat": ticket.seat || "", "data-section": ticket.section },
            t("ticketLine", { place: ticket.seat || `${ticket.section} (${t("generalAdmission")})`, code: ticket.code }),
          ),
        ),
      ),
    );
    result.dataset.orderId = order.order_id;
    result.hidden = false;
  }

  const form = h(
    "form",
    { novalidate: true, testid: "admin-boxoffice-form" },
    summary,
    h(
      "div",
      { class: "row-fields" },
      field("section", t("boxSection"), sectionInput),
      field("quantity", t("quantity"), quantityInput),
    ),
    seatsField,
    h("div", { class: "row-fields" }, field("buyer.name", t("buyerName"), nameInput), field("buyer.email", t("buyerEmail"), emailInput)),
    h("div", { class: "row-fields" }, field("payment.provider", t("payment"), paymentInput), cardField),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", testid: "admin-boxoffice-submit" }, t("sell"))),
    result,
  );
  // The generic field ids would clash with the event form's; these are ours.
  for (const input of form.querySelectorAll("[data-box]")) {
    input.dataset.testid = `admin-boxoffice-${input.dataset.box}`;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form, summary);
    result.hidden = true;
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    try {
      const order = await call("POST", `/api/admin/events/${encodeURIComponent(event.id)}/boxoffice`, { body: body() });
      showOrder(order);
      seatsInput.value = "";
      onSold(order);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      if (exc.status === 401) onError(exc);
      else {
        const unavailable = exc.details && Array.isArray(exc.details.unavailable) ? exc.details.unavailable : [];
        const fields = unavailable.length ? { seats: `${exc.message}: ${unavailable.join(", ")}` } : exc.fields;
        showErrors(form, summary, { fields, message: exc.message });
      }
    } finally {
      submit.disabled = false;
    }
  });
  sync();

  const element = h(
    "section",
    { class: "panel", "aria-labelledby": "boxoffice-title", testid: "admin-boxoffice" },
    h("h2", { id: "boxoffice-title" }, t("boxOffice")),
    form,
  );

  return {
    element,
    /** Add or take away a seat chosen on the seat overview. */
    toggleSeat(seatId) {
      const seats = seatList();
      const seat = event.sections.find((s) => seatId.startsWith(`${s.code}-`));
      if (seat && sectionInput.value !== seat.code) {
        sectionInput.value = seat.code;
        sync();
      }
      const next = seats.includes(seatId) ? seats.filter((x) => x !== seatId) : [...seats, seatId];
      seatsInput.value = next.join(", ");
      return next.includes(seatId);
    },
    selected: seatList,
  };
}
