// The venue's page: sign-in with the venue's API key, then views chosen by
// the URL's fragment so that a reload or a bookmark lands where it was:
//   #/                 events
//   #/new              new event
//   #/events/ID/edit   change an event
//   #/events/ID        live on-sale view
//   #/events/ID/door   the door: door keys, who is in, double entries
//   #/keys             the venue's API keys: rotate, revoke

import { doorView } from "./door.js";
import { call, session, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { eventForm } from "./eventform.js";
import { dateTime, lang, t } from "./i18n.js";
import { keysView } from "./keys.js";
import { liveView } from "./live.js";

const view = document.getElementById("admin-view");
const alertBox = document.getElementById("admin-error");
const notice = document.getElementById("admin-notice");
const signOutButton = document.getElementById("admin-signout");
const keysLink = document.getElementById("admin-keys");
const languageLink = document.getElementById("admin-language");
let stopView = null;

// A notice ("Saved.") survives the one navigation that follows it.
let keepNotice = false;

function notify(message) {
  keepNotice = Boolean(message);
  notice.textContent = message;
  notice.hidden = !message;
}

function showError(message) {
  alertBox.textContent = message;
  alertBox.hidden = !message;
}

/** What to do with a failed call: back to sign-in when the key is refused. */
function fail(exc) {
  if (exc instanceof ApiError && exc.status === 401) {
    session.key = null;
    signInView(t("keyGone"));
    return;
  }
  if (exc instanceof ApiError && exc.status === 0) {
    showError(t("networkError"));
    return;
  }
  const fields = exc instanceof ApiError ? Object.entries(exc.fields) : [];
  const detail = fields.map(([path, message]) => `${path}: ${message}`).join("; ");
  showError(detail ? `${exc.message} (${detail})` : exc.message || String(exc));
}

function heading(text) {
  return h("h1", { tabindex: -1 }, text);
}

function statusAt(event, now) {
  const sale = event.sale;
  if (now >= Date.parse(sale.closes_at)) return "closed";
  if (now >= Date.parse(sale.opens_at)) return "on_sale";
  if (now >= Date.parse(sale.prequeue_opens_at)) return "prequeue";
  return "scheduled";
}

/** PATCH the sale to open now (the waiting room too, if it opens later). */
async function openSale(event) {
  const now = new Date();
  now.setMilliseconds(0);
  const iso = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const sale = { opens_at: iso };
  if (Date.parse(event.sale.prequeue_opens_at) > now.getTime()) sale.prequeue_opens_at = iso;
  try {
    await call("PATCH", `/api/admin/events/${encodeURIComponent(event.id)}`, { body: { sale } });
    notify(t("saleOpened"));
    return true;
  } catch (exc) {
    fail(exc);
    return false;
  }
}

// ------------------------------------------------------------ views

function signInView(message = "") {
  stop();
  signOutButton.hidden = true;
  keysLink.hidden = true;
  notify("");
  showError("");
  const input = h("input", { type: "password", id: "signin-key", autocomplete: "off", required: true, testid: "admin-signin-key", "aria-describedby": "signin-help signin-error" });
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert", testid: "admin-signin-error", hidden: !message }, message);
  const form = h(
    "form",
    { class: "signin", testid: "admin-signin" },
    h("p", { id: "signin-help", class: "help" }, t("signInHelp")),
    h("div", { class: "field" }, h("label", { for: "signin-key" }, t("apiKey")), input),
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", testid: "admin-signin-submit" }, t("signIn"))),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    error.hidden = true;
    try {
      // Any venue call checks the key; the events list is the first view anyway.
      await call("GET", "/api/admin/events", { key });
    } catch (exc) {
      error.textContent = exc instanceof ApiError && exc.status === 401 ? t("badKey") : exc.status === 0 ? t("networkError") : exc.message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    session.key = key;
    route();
  });
  replace(view, heading(t("signInTitle")), form);
  input.focus();
}

async function eventsView() {
  const { events } = await call("GET", "/api/admin/events");
  const now = Date.now();
  events.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  const rows = events.map((event) => {
    const id = encodeURIComponent(event.id);
    const status = statusAt(event, now);
    return h(
      "tr",
      { testid: `admin-event-${event.id}`, "data-status": status },
      h("th", { scope: "row" }, h("a", { href: `#/events/${id}`, testid: `admin-event-live-${event.id}` }, event.name)),
      h("td", {}, dateTime(event.starts_at)),
      h("td", {}, h("span", { class: `badge ${status}` }, t(`status.${status}`))),
      h(
        "td",
        { class: "actions" },
        h("a", { href: `#/events/${id}`, "aria-label": `${t("liveView")}: ${event.name}` }, t("liveView")),
        h("a", { href: `#/events/${id}/edit`, testid: `admin-event-edit-${event.id}`, "aria-label": `${t("edit")}: ${event.name}` }, t("edit")),
        status === "scheduled" || status === "prequeue"
          ? h(
              "button",
              {
                type: "button",
                class: "small",
                testid: `admin-event-open-${event.id}`,
                "aria-label": `${t("openSaleNow")}: ${event.name}`,
                onclick: async () => {
                  if (await openSale(event)) route();
                },
              },
              t("openSaleNow"),
            )
          : null,
      ),
    );
  });
  const h1 = heading(t("events"));
  replace(
    view,
    h1,
    h("p", {}, h("a", { href: "#/new", class: "button primary", testid: "admin-new-event" }, t("newEvent"))),
    events.length
      ? h(
          "table",
          { class: "events", testid: "admin-events" },
          h("thead", {}, h("tr", {}, [t("name"), t("startsAt"), t("status"), t("actions")].map((label) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, rows),
        )
      : h("p", { testid: "admin-events-empty" }, t("noEvents")),
  );
  h1.focus();
}

async function formView(eventId) {
  const event = eventId ? await call("GET", `/api/admin/events/${encodeURIComponent(eventId)}`) : null;
  const h1 = heading(event ? t("editTitle", { name: event.name }) : t("createTitle"));
  const form = eventForm({
    event,
    onSaved: (saved) => {
      notify(event ? t("saved") : "");
      location.hash = `#/events/${encodeURIComponent(saved.id)}`;
    },
    onCancel: () => {
      location.hash = event ? `#/events/${encodeURIComponent(event.id)}` : "#/";
    },
  });
  replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)), h1, form);
  h1.focus();
}

// ------------------------------------------------------------ routing

function stop() {
  if (stopView) stopView();
  stopView = null;
}

async function route() {
  stop();
  showError("");
  if (!session.key) {
    signInView();
    return;
  }
  signOutButton.hidden = false;
  keysLink.hidden = false;
  const path = location.hash.replace(/^#/, "") || "/";
  let match;
  try {
    if ((match = path.match(/^\/events\/([^/]+)\/door$/))) {
      const stopper = await doorView(view, decodeURIComponent(match[1]), { notify, fail });
      if (location.hash.replace(/^#/, "") === path) stopView = stopper;
      else stopper();
    } else if ((match = path.match(/^\/events\/([^/]+)\/edit$/))) {
      await formView(decodeURIComponent(match[1]));
    } else if ((match = path.match(/^\/events\/([^/]+)$/))) {
      const stopper = await liveView(view, decodeURIComponent(match[1]), { notify, fail, openSale });
      // The venue may have left the view while it loaded.
      if (location.hash.replace(/^#/, "") === path) stopView = stopper;
      else stopper();
    } else if (path === "/new") {
      await formView(null);
    } else if (path === "/keys") {
      await keysView(view, { notify, fail, signInAgain: signOut });
    } else {
      await eventsView();
    }
  } catch (exc) {
    // Nothing of a view that did not load stays on screen, only the way back.
    replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)));
    fail(exc);
  }
}

/** Forget this tab's key and show the sign-in (on the events view). */
function signOut() {
  session.key = null;
  // Set the fragment before signing in again, or its change would route
  // to the sign-in a second time.
  if (location.hash && location.hash !== "#/") history.replaceState(null, "", location.pathname + location.search);
  signInView();
}

function start() {
  document.title = `onsale: ${t("title")}`;
  languageLink.textContent = t("languageSwitch");
  languageLink.lang = lang === "fr" ? "en" : "fr";
  languageLink.addEventListener("click", (e) => {
    e.preventDefault();
    // Keep the view (fragment) when switching language.
    location.href = `?lang=${languageLink.lang}${location.hash}`;
  });
  signOutButton.textContent = t("signOut");
  signOutButton.addEventListener("click", signOut);
  keysLink.textContent = t("keysTitle");
  window.addEventListener("hashchange", () => {
    if (keepNotice) keepNotice = false;
    else notify("");
    route();
  });
  route();
}

start();
