// The checkout step: the price breakdown of the hold and the payment form.
// Each distinct form sent gets one Idempotency-Key, reused when the same form
// is sent again (a lost answer, a double click), so the server answers with
// the first result instead of charging twice.
//
// Where the event's venue takes Stripe (event.payments), the card field is
// Stripe's own element: the page asks onsale for a PaymentIntent of the hold
// (POST /payment), confirms it with Stripe.js, then checks out with its id.

import { call, uuid } from "./api.js";
import { lang, t, money } from "./i18n.js";
import { showError, clearError, errorText, SESSION_CODES } from "./messages.js";
import { StripeCard } from "./stripe.js";

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
    this.paying = null; // {holdId, body, key}: the PaymentIntent's request
    this.stripe = null; // a StripeCard where the venue takes Stripe
    $("checkout-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
  }

  open(hold, event) {
    this.hold = hold;
    this.useStripe(event.payments);
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
    this.paying = null;
  }

  /** Swap the test card input for Stripe's card element (once). */
  async useStripe(payments) {
    if (!payments || payments.provider !== "stripe" || this.stripe || this.mounting) return;
    const input = $("checkout-card");
    const box = $("checkout-stripe-card");
    // The hook names the card field, whoever draws it.
    input.hidden = true;
    input.removeAttribute("data-testid");
    input.required = false;
    box.hidden = false;
    box.setAttribute("data-testid", "checkout-card");
    $("checkout-card-hint").textContent = t("checkout.card_hint_stripe");
    this.mounting = StripeCard.mount($("checkout-form").dataset.stripeJs, payments.publishable_key, box)
      .then((card) => {
        this.stripe = card;
      })
      .catch(() => showError(t("error.stripe_unavailable")));
    await this.mounting;
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
      card: this.mounting ? "stripe" : $("checkout-card").value.replace(/[\s-]/g, ""),
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
    const buyer = { email: values.email, name: values.name };
    const holdId = this.hold.hold_id;
    const button = $("checkout-submit");
    const label = button.textContent;
    button.disabled = true;
    button.textContent = t("checkout.paying");
    try {
      if (this.mounting) await this.mounting;
      const payment = this.stripe
        ? await this.payWithStripe(holdId, buyer)
        : { provider: "test", card_number: values.card };
      if (!payment) return;
      const body = { buyer, payment };
      // Off unless the fan ticks the venue's own question.
      if (!$("checkout-consent-box").hidden && $("checkout-consent").checked) body.consent = { marketing: true };
      const text = JSON.stringify(body);
      if (!this.sent || this.sent.holdId !== holdId || this.sent.body !== text) {
        this.sent = { holdId, body: text, key: uuid() };
      }
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

  /** The hold's PaymentIntent (one per hold and buyer: the same key again
   * gets the same one), confirmed with Stripe.js; the checkout's payment. */
  async payWithStripe(holdId, buyer) {
    const text = JSON.stringify({ buyer });
    if (!this.paying || this.paying.holdId !== holdId || this.paying.body !== text) {
      this.paying = { holdId, body: text, key: uuid() };
    }
    const { data } = await call("POST", `/api/holds/${encodeURIComponent(holdId)}/payment`, {
      token: this.on.token(),
      body: { buyer },
      headers: { "Idempotency-Key": this.paying.key },
    });
    // Declined or not, onsale reads the PaymentIntent's state at Stripe
    // itself: the checkout answers 402 for a decline (and counts it).
    await this.stripe.confirm(data.client_secret, buyer);
    return { provider: "stripe", payment_id: data.payment_id };
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
      // With Stripe the next try is a new confirmation of the same
      // PaymentIntent (another card): a new checkout, with a new key.
      if (this.stripe) this.sent = null;
      this.fieldError("card", t("error.payment_declined"));
      if (!this.stripe) {
        $("checkout-card").focus();
        $("checkout-card").select();
      }
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
