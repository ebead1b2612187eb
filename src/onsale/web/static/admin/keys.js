// The venue's API keys: the list (never a key itself, only its first
// characters), rotation (the new key is shown once, the old one works for the
// chosen grace) and revocation (at once).

import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, t } from "./i18n.js";

// Grace choices in seconds; the API takes 0..7 days, 24 hours by default.
const GRACES = [0, 3600, 86400, 3 * 86400, 7 * 86400];
const DEFAULT_GRACE = 86400;

function graceLabel(seconds) {
  return t(`grace.${seconds}`);
}

function keyName(key) {
  return key.prefix ? `${key.prefix}…` : key.key_id;
}

/** Copy `text`; the clipboard API where the page may use it, else a selection. */
async function copy(input) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
}

/**
 * The keys view in `view`. `notify(text)` shows a notice, `fail(exc)` an
 * error (or the sign-in, for a refused key), `signInAgain()` forgets the key
 * of this tab and shows the sign-in.
 */
export async function keysView(view, { notify, fail, signInAgain }) {
  const h1 = h("h1", { tabindex: -1 }, t("keysTitle"));
  const body = h("tbody", {});
  const table = h(
    "table",
    { class: "keys", testid: "keys-list" },
    h("thead", {}, h("tr", {}, [t("key"), t("createdAt"), t("expires"), t("lastUsed"), t("status"), t("actions")].map((label) => h("th", { scope: "col" }, label)))),
    body,
  );

  let pending = null;
  const dialogText = h("p", { testid: "keys-revoke-text" });
  const dialog = h(
    "dialog",
    { class: "confirm", testid: "keys-revoke-dialog", "aria-labelledby": "revoke-title" },
    h("h3", { id: "revoke-title" }, t("revokeTitle")),
    dialogText,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", autofocus: true, testid: "keys-revoke-cancel", onclick: () => dialog.close() }, t("cancel")),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          testid: "keys-revoke-confirm",
          onclick: () => {
            dialog.close();
            if (pending) revoke(pending);
          },
        },
        t("revoke"),
      ),
    ),
  );

  function ask(key) {
    pending = key;
    dialogText.textContent = t(key.current ? "revokeOwnText" : "revokeText", { key: keyName(key) });
    dialog.showModal();
  }

  async function revoke(key) {
    try {
      await call("DELETE", `/api/admin/venue-keys/${encodeURIComponent(key.key_id)}`);
      notify(t("keyRevoked", { key: keyName(key) }));
      await show();
    } catch (exc) {
      notify("");
      fail(exc);
    }
  }

  function row(key) {
    const live = key.state === "active" || key.state === "expiring";
    return h(
      "tr",
      { testid: `key-${key.key_id}`, "data-state": key.state },
      h("td", { class: "mono" }, keyName(key), key.current ? h("span", { class: "muted" }, ` (${t("thisKey")})`) : null),
      h("td", {}, dateTime(key.created_at)),
      h("td", {}, key.revoked_at ? "–" : key.expires_at ? dateTime(key.expires_at) : t("never")),
      h("td", {}, key.last_used_at ? dateTime(key.last_used_at) : "–"),
      h("td", {}, h("span", { class: `badge key-${key.state}` }, t(`key.${key.state}`))),
      h(
        "td",
        {},
        live
          ? h(
              "button",
              { type: "button", class: "danger small", testid: `key-revoke-${key.key_id}`, "aria-label": `${t("revoke")} ${keyName(key)}`, onclick: () => ask(key) },
              t("revoke"),
            )
          : null,
      ),
    );
  }

  async function show() {
    const { keys } = await call("GET", "/api/admin/venue-keys");
    replace(body, keys.map(row));
    table.dataset.count = String(keys.length);
  }

  const grace = h(
    "select",
    { id: "keys-grace", testid: "keys-grace" },
    GRACES.map((seconds) => h("option", { value: String(seconds), selected: seconds === DEFAULT_GRACE }, graceLabel(seconds))),
  );
  const rotateButton = h("button", { type: "submit", class: "primary", testid: "keys-rotate" }, t("rotate"));
  const rotateForm = h(
    "form",
    { class: "panel", testid: "keys-rotate-form", "aria-labelledby": "rotate-title" },
    h("h2", { id: "rotate-title" }, t("rotateTitle")),
    h("p", { class: "help" }, t("rotateHelp")),
    h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "keys-grace" }, t("grace")), grace), rotateButton),
  );
  const listPanel = h("section", { class: "panel", "aria-labelledby": "keys-list-title" }, h("h2", { id: "keys-list-title" }, t("keysList")), h("div", { class: "scroll" }, table), dialog);

  function shown(rotated) {
    const input = h("input", { type: "text", id: "keys-new-key", class: "mono wide", readonly: true, value: rotated.api_key, testid: "keys-new-key" });
    const copyButton = h(
      "button",
      {
        type: "button",
        testid: "keys-copy",
        onclick: async () => {
          await copy(input);
          copyButton.textContent = t("copied");
        },
      },
      t("copy"),
    );
    const until = rotated.previous_expires_at ? dateTime(rotated.previous_expires_at) : "";
    const h2 = h("h2", { id: "new-key-title", tabindex: -1 }, t("newKeyTitle"));
    const panel = h(
      "section",
      { class: "panel result", testid: "keys-new-key-panel", "aria-labelledby": "new-key-title" },
      h2,
      h("div", { class: "field" }, h("label", { for: "keys-new-key" }, t("newKey")), input),
      h("div", { class: "buttons" }, copyButton),
      h("p", { role: "status" }, t("newKeyOnce")),
      h("p", {}, Number(grace.value) === 0 ? t("oldKeyStopped") : t("oldKeyUntil", { time: until })),
      h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", testid: "keys-signin-again", onclick: signInAgain }, t("signInNewKey"))),
    );
    // The old key may already be refused (grace 0): nothing else on this
    // view calls the API with it any more.
    replace(view, h1, panel);
    input.focus();
    input.select();
  }

  rotateForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    rotateButton.disabled = true;
    try {
      shown(await call("POST", "/api/admin/venue-keys/rotate", { body: { grace_seconds: Number(grace.value) } }));
    } catch (exc) {
      rotateButton.disabled = false;
      fail(exc);
    }
  });

  await show();
  replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)), h1, h("p", { class: "help" }, t("keysHelp")), rotateForm, listPanel);
  h1.focus();
}
