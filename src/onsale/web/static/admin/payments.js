// The venue's payment account: connect its own Stripe account (the money
// goes to the venue, not through a middleman). The publishable key is shown;
// the secret key and the webhook secret are sent once and never shown again
// (the server keeps them sealed and never answers them). The webhook URL to
// paste into Stripe's dashboard is this server's, for this venue.

import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

function field(id, label, attrs, help) {
  const input = h("input", { id, name: id, class: "mono wide", autocomplete: "off", testid: id, ...attrs });
  const error = h("p", { class: "field-error", id: `${id}-error` });
  return {
    input,
    error,
    el: h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("p", { class: "help" }, help) : null, error),
  };
}

/** The payments view in `view` (see keysView for `notify` and `fail`). */
export async function paymentsView(view, { notify, fail }) {
  const h1 = h("h1", { tabindex: -1 }, t("paymentsTitle"));
  const state = h("p", { role: "status", testid: "payments-state" });
  const webhook = h("input", { id: "payments-webhook-url", class: "mono wide", readonly: true, testid: "payments-webhook-url" });
  const publishable = field("payments-publishable-key", t("publishableKey"), { placeholder: "pk_live_…", required: true });
  const secret = field("payments-secret-key", t("secretKey"), { type: "password", placeholder: "sk_live_…", required: true }, t("secretNeverShown"));
  const whsec = field("payments-webhook-secret", t("webhookSecret"), { type: "password", placeholder: "whsec_…", required: true }, t("secretNeverShown"));
  const fields = { publishable_key: publishable, secret_key: secret, webhook_secret: whsec };
  const submit = h("button", { type: "submit", class: "primary", testid: "payments-connect" }, t("connectStripe"));
  const form = h(
    "form",
    { class: "panel", testid: "payments-form", "aria-labelledby": "payments-form-title" },
    h("h2", { id: "payments-form-title" }, t("stripeAccount")),
    h("p", { class: "help" }, t("paymentsHelp")),
    h("div", { class: "field" }, h("label", { for: "payments-webhook-url" }, t("webhookUrl")), webhook, h("p", { class: "help" }, t("webhookHelp"))),
    publishable.el,
    secret.el,
    whsec.el,
    h("div", { class: "buttons" }, submit),
  );

  function showState(account) {
    webhook.value = `${location.origin}${account.webhook_path}`;
    state.textContent = account.configured ? t("stripeConnected", { key: account.publishable_key }) : t("stripeNotConnected");
    state.dataset.configured = String(account.configured);
    if (account.configured) publishable.input.value = account.publishable_key;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.error.textContent = "";
    submit.disabled = true;
    try {
      const account = await call("PUT", "/api/admin/payment-account", {
        body: {
          provider: "stripe",
          publishable_key: publishable.input.value.trim(),
          secret_key: secret.input.value.trim(),
          webhook_secret: whsec.input.value.trim(),
        },
      });
      // The secrets leave the page as soon as the server has them.
      secret.input.value = "";
      whsec.input.value = "";
      showState(account);
      notify(t("stripeSaved"));
    } catch (exc) {
      for (const [name, message] of Object.entries(exc.fields || {})) {
        if (fields[name]) fields[name].error.textContent = String(message);
      }
      fail(exc);
    } finally {
      submit.disabled = false;
    }
  });

  showState(await call("GET", "/api/admin/payment-account"));
  replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)), h1, state, form);
  h1.focus();
}
