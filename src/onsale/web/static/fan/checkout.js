// The checkout step: the price breakdown of the hold and the payment form.
// Each distinct form sent gets one Idempotency-Key, reused when the same form
// is sent again (a lost answer, a double click), so the server answers with
// the first result instead of charging twice.

import { call, uuid } from "./api.js";
import { lang, t, money } from "./i18n.js";
import { showError, clearError, errorText, SESSION_CODES } from "./messages.js";

const $ = (id) => document.getElementById(id);
const FIELDS = ["name", "email", "card"];

export class Checkout {
  /**
   * on.token() the access token; on.paid(order); on.holdGone(messageKey) when
   * the hold expired; on.sessionOver(err); on.soldOut().
   */
  constructor(on) {
    this.on = on;
    this.hold = null;
    this.sent = null; // {holdId, body, key}
    $("checkout-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
  }

  open(hold, event) {
    this.hold = hold;
    this.showVenueTerms(event.id);
    const section = event.sections.find((s) => s.code === hold.section);
    const cat = event.categories.find((c) => c.code === (section && section.category)) || event.categories[0];
    const n = hold.quantity || (hold.seats || []).length;
    const total = money(n * (cat.price_cents + cat.fee_cents), cat.currency);
    const rows = [
      [t("checkout.tickets", { n, price: money(cat.price_cents, cat.currency) }), money(n * cat.price_cents, cat.currency)],
      [t("checkout.fees", { n, fee: money(cat.fee_cents, cat.currency) }), money(n * cat.fee_cents, cat.currency)],
      [t("checkout.total"), total],
    ];
    const table = $("breakdown").parentElement;
    table.querySelector("caption")?.remove();
    const caption = document.createElement("caption");
    const seats = (hold.seats || []).join(", ");
    caption.textContent = seats ? t("hold.selected", { seats }) : `${hold.section} × ${n}`;
    table.prepend(caption);
    $("breakdown").replaceChildren(
      ...rows.map(([label, amount], i) => {
        const tr = document.createElement("tr");
        if (i === rows.length - 1) tr.className = "total";
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = label;
        const td = document.createElement("td");
        td.textContent = amount;
        tr.append(th, td);
        return tr;
      }),
    );
    $("checkout-submit").textContent = t("checkout.submit", { total });
  }

  /**
   * The venue's own consent question (only when it asks one; unticked) and
   * its privacy notice. Paying works the same without them.
   */
  async showVenueTerms(eventId) {
    if (this.termsOf === eventId) return;
    this.termsOf = eventId;
    try {
      const { data } = await call("GET", `/api/events/${encodeURIComponent(eventId)}/privacy`);
      const consent = data.marketing_consent;
      $("checkout-consent-box").hidden = !consent.enabled;
      if (consent.enabled) $("checkout-consent-text").textContent = lang === "fr" ? consent.text_fr : consent.text_en;
      const link = $("checkout-privacy");
      link.href = data.privacy.notice_url;
      link.hidden = false;
    } catch {
      this.termsOf = null; // asked again at the next hold
    }
  }

  close() {
    this.hold = null;
    this.sent = null;
  }

  fieldError(name, text) {
    const input = $(`checkout-${name}`);
    $(`checkout-${name}-error`).textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /** The form's values, or null (the first wrong field focused). */
  validate() {
    const values = {
      name: $("checkout-name").value.trim(),
      email: $("checkout-email").value.trim(),
      card: $("checkout-card").value.replace(/[\s-]/g, ""),
    };
    const problems = {};
    for (const [k, v] of Object.entries(values)) if (!v) problems[k] = t("checkout.required");
    if (values.email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(values.email)) problems.email = t("checkout.bad_email");
    for (const k of FIELDS) this.fieldError(k, problems[k]);
    const first = FIELDS.find((k) => problems[k]);
    if (first) $(`checkout-${first}`).focus();
    return first ? null : values;
  }

  async submit() {
    clearError();
    if (!this.hold) return;
    const values = this.validate();
    if (!values) return;
    const body = {
      buyer: { email: values.email, name: values.name },
      payment: { provider: "test", card_number: values.card },
    };
    // Off unless the fan ticks the venue's own question.
    if (!$("checkout-consent-box").hidden && $("checkout-consent").checked) body.consent = { marketing: true };
    const text = JSON.stringify(body);
    const holdId = this.hold.hold_id;
    if (!this.sent || this.sent.holdId !== holdId || this.sent.body !== text) {
      this.sent = { holdId, body: text, key: uuid() };
    }
    const button = $("checkout-submit");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = t("checkout.paying");
    try {
      const { data } = await call("POST", `/api/holds/${encodeURIComponent(holdId)}/checkout`, {
        token: this.on.token(),
        body,
        headers: { "Idempotency-Key": this.sent.key },
      });
      this.close();
      this.on.paid(data);
    } catch (err) {
      this.failed(err);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  failed(err) {
    // A 404 is a hold the server does not know (e.g. Redis lost it): to the
    // fan it is gone all the same, so back to choosing seats.
    if (err.code === "hold_expired" || err.code === "not_found") {
      return this.on.holdGone("error.hold_expired");
    }
    if (SESSION_CODES.includes(err.code)) return this.on.sessionOver(err);
    showError(errorText(err));
    if (err.code === "payment_declined") {
      this.fieldError("card", t("error.payment_declined"));
      $("checkout-card").focus();
      $("checkout-card").select();
    } else if (err.code === "validation_error") {
      const fields = (err.details && err.details.fields) || {};
      for (const key of Object.keys(fields)) {
        const name = FIELDS.find((n) => key.includes(n));
        if (name) this.fieldError(name, String(fields[key]));
      }
    } else if (err.code === "sold_out") {
      this.on.soldOut();
    }
  }
}
