// The buyers' data (managers only): find a buyer by e-mail, export all the
// venue holds about them (a JSON file), erase them (with a confirmation);
// the opted-in contacts; the venue's consent wording and privacy notice.

import { call, download } from "./api.js";
import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

function saveJson(data, filename) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function buyerPanel({ notify, fail }) {
  const email = h("input", { type: "email", id: "buyer-email", autocomplete: "off", required: true, testid: "buyer-email" });
  const summary = h("p", { role: "status", testid: "buyer-result" });
  const confirmText = h("p", { testid: "buyer-erase-text" });
  const dialog = h(
    "dialog",
    { class: "confirm", testid: "buyer-erase-dialog", "aria-labelledby": "erase-title" },
    h("h3", { id: "erase-title" }, t("eraseTitle")),
    confirmText,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", autofocus: true, testid: "buyer-erase-cancel", onclick: () => dialog.close() }, t("cancel")),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          testid: "buyer-erase-confirm",
          onclick: async () => {
            dialog.close();
            try {
              const done = await call("POST", "/api/admin/buyers/erase", { body: { email: email.value.trim() } });
              summary.textContent = t("erased", { n: done.orders_anonymized });
              notify(t("erased", { n: done.orders_anonymized }));
            } catch (exc) {
              fail(exc);
            }
          },
        },
        t("eraseConfirm"),
      ),
    ),
  );
  const exportButton = h(
    "button",
    {
      type: "button",
      testid: "buyer-export",
      onclick: async () => {
        const address = email.value.trim();
        if (!address) return email.reportValidity();
        try {
          const data = await call("GET", `/api/admin/buyers?email=${encodeURIComponent(address)}`);
          summary.textContent = t("exported", { orders: data.orders.length, consents: data.consents.length });
          saveJson(data, "buyer.json");
        } catch (exc) {
          fail(exc);
        }
      },
    },
    t("exportJson"),
  );
  const eraseButton = h(
    "button",
    {
      type: "button",
      class: "danger",
      testid: "buyer-erase",
      onclick: () => {
        const address = email.value.trim();
        if (!address) return email.reportValidity();
        confirmText.textContent = t("eraseText", { email: address });
        dialog.showModal();
      },
    },
    t("erase"),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "buyer-title", testid: "buyers-panel" },
    h("h2", { id: "buyer-title" }, t("buyerTitle")),
    h("p", { class: "help" }, t("buyerHelp")),
    h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "buyer-email" }, t("buyerEmail")), email), exportButton, eraseButton),
    summary,
    dialog,
  );
}

function contactsPanel({ fail }) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": "contacts-title" },
    h("h2", { id: "contacts-title" }, t("contactsTitle")),
    h("p", { class: "help" }, t("contactsHelp")),
    h(
      "button",
      {
        type: "button",
        testid: "contacts-export",
        onclick: () => download("/api/admin/consents.csv", "contacts.csv", "text/csv").catch(fail),
      },
      t("exportCsv"),
    ),
  );
}

function field(id, label, input) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

async function settingsPanel({ notify, fail }) {
  const now = await call("GET", "/api/admin/venue-settings");
  const mc = now.marketing_consent;
  const pv = now.privacy;
  const enabled = h("input", { type: "checkbox", id: "consent-enabled", testid: "consent-enabled", checked: mc.enabled });
  const textEn = h("textarea", { id: "consent-text-en", testid: "consent-text-en", rows: 2 }, mc.text_en);
  const textFr = h("textarea", { id: "consent-text-fr", testid: "consent-text-fr", rows: 2 }, mc.text_fr);
  const contact = h("input", { type: "email", id: "privacy-contact", testid: "privacy-contact", value: pv.contact_email });
  const url = h("input", { type: "url", id: "privacy-url", testid: "privacy-url", value: pv.notice_url, placeholder: "https://" });
  const text = h("textarea", { id: "privacy-text", testid: "privacy-text", rows: 4 }, pv.notice_text);
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "settings-title", testid: "venue-settings" },
    h("h2", { id: "settings-title" }, t("settingsTitle")),
    h("div", { class: "field" }, h("label", { for: "consent-enabled" }, enabled, " ", t("consentEnabled"))),
    field("consent-text-en", t("consentTextEn"), textEn),
    field("consent-text-fr", t("consentTextFr"), textFr),
    field("privacy-contact", t("privacyContact"), contact),
    field("privacy-url", t("privacyUrl"), url),
    field("privacy-text", t("privacyText"), text),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", testid: "venue-settings-save" }, t("save"))),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await call("PUT", "/api/admin/venue-settings", {
        body: {
          marketing_consent: { enabled: enabled.checked, text_en: textEn.value, text_fr: textFr.value },
          privacy: { contact_email: contact.value, notice_url: url.value, notice_text: text.value },
        },
      });
      notify(t("saved"));
    } catch (exc) {
      fail(exc);
    }
  });
  return form;
}

export async function buyersView(view, { notify, fail }) {
  const h1 = h("h1", { tabindex: -1 }, t("buyersTitle"));
  const settings = await settingsPanel({ notify, fail });
  replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)), h1, buyerPanel({ notify, fail }), contactsPanel({ fail }), settings);
  h1.focus();
}
