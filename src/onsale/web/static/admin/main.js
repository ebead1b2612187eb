// The venue's page: sign-in with the venue's API key, then views chosen by
// the URL's fragment so that a reload or a bookmark lands where it was:
//   #/                 events
//   #/new              new event
//   #/events/ID/edit   change an event
//   #/events/ID        live on-sale view
//   #/events/ID/door   the door: door keys, who is in, double entries
//   #/keys             the venue's API keys: rotate, revoke
//   #/payments         the venue's payment account (Stripe, managers)
//   #/staff            the venue's staff (managers)
//   #/audit            the audit log (managers)
//   #/buyers           the buyers' data, consent and privacy (managers)
//   #/door             where a door person starts: the door page's link
// Each person signs in with their own key; the page asks who they are
// (who.js) and shows only what their role may do.

import { doorView } from "./door.js";
import { call, session, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { eventForm } from "./eventform.js";
import { dateTime, lang, t } from "./i18n.js";
import { auditView } from "./audit.js";
import { buyersView } from "./buyers.js";
import { keysView } from "./keys.js";
import { liveView } from "./live.js";
import { paymentsView } from "./payments.js";
import { staffView } from "./staff.js";
import { can, current, forget, whoAmI } from "./who.js";

const view = document.getElementById("admin-view");
const alertBox = document.getElementById("admin-error");
const notice = document.getElementById("admin-notice");
const signOutButton = document.getElementById("admin-signout");
const keysLink = document.getElementById("admin-keys");
const paymentsLink = document.getElementById("admin-payments");
const whoLabel = document.getElementById("admin-whoami");
// Links shown to the roles that may use them (admin/roles.py's actions).
const navLinks = [
  [keysLink, "keys", "keysTitle"],
  [paymentsLink, "payment_account", "paymentsTitle"],
  [document.getElementById("admin-staff"), "staff", "navStaff"],
  [document.getElementById("admin-buyers"), "buyers", "navBuyers"],
  [document.getElementById("admin-audit"), "audit", "navAudit"],
  [document.getElementById("admin-door"), "scan", "navDoor"],
];
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
    forget();
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
  showNav(false);
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
      // Who the key is: every role may ask, and the answer shapes the page.
      await whoAmI(key);
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
        can("event_write") ? h("a", { href: `#/events/${id}/edit`, testid: `admin-event-edit-${event.id}`, "aria-label": `${t("edit")}: ${event.name}` }, t("edit")) : null,
        can("event_write") && (status === "scheduled" || status === "prequeue")
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
    can("event_write") ? h("p", {}, h("a", { href: "#/new", class: "button primary", testid: "admin-new-event" }, t("newEvent"))) : null,
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

/** A door person's start: the door page, nothing else of the venue's. */
function doorStartView() {
  const h1 = heading(t("doorTitle"));
  replace(
    view,
    h1,
    h("p", { class: "help" }, t("doorHelp")),
    h("p", {}, h("a", { href: "/door", class: "button primary", testid: "admin-door-link" }, t("doorOpen"))),
  );
  h1.focus();
}

function showNav(visible) {
  const me = current();
  for (const [link, action] of navLinks) link.hidden = !visible || !can(action);
  whoLabel.hidden = !visible || !me;
  if (me) whoLabel.textContent = t("whoAmI", { email: me.staff_email || me.venue.name, role: t(`role.${me.role}`) });
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
  const path = location.hash.replace(/^#/, "") || "/";
  let match;
  try {
    if (!current()) await whoAmI();
    showNav(true);
    if ((match = path.match(/^\/events\/([^/]+)\/door$/))) {
      const stopper = await doorView(view, decodeURIComponent(match[1]), { notify, fail });
      if (location.hash.replace(/^#/, "") === path) stopView = stopper;
      else stopper();
    } else if (path === "/door" || (!can("read") && can("scan"))) {
      doorStartView();
    } else if (path === "/staff") {
      await staffView(view, { notify, fail });
    } else if (path === "/audit") {
      await auditView(view, { fail });
    } else if (path === "/buyers") {
      await buyersView(view, { notify, fail });
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
    } else if (path === "/payments") {
      await paymentsView(view, { notify, fail });
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
  forget();
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
  for (const [link, , label] of navLinks) link.textContent = t(label);
  window.addEventListener("hashchange", () => {
    if (keepNotice) keepNotice = false;
    else notify("");
    route();
  });
  route();
}

start();
