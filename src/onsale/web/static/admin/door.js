// The door of one event (#/events/ID/door): door keys (create with a label,
// shown once; revoke), who is in per gate (polled every 2 s), and the double
// entries that offline phones reported when they came back.

import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { count, dateTime, t } from "./i18n.js";

const POLL_MS = 2000;

export async function doorView(root, eventId, { notify, fail }) {
  const base = `/api/admin/events/${encodeURIComponent(eventId)}`;
  const event = await call("GET", base);
  let stopped = false;
  let timer = null;

  const keysBody = h("tbody", {});
  const gatesBody = h("tbody", {});
  const conflictsBody = h("tbody", {});
  const total = h("span", { class: "value", testid: "admin-door-checked-in" }, "…");
  const shown = h("p", { class: "notice", testid: "admin-door-key-shown", hidden: true });
  const label = h("input", { id: "door-key-label", testid: "admin-door-key-label", value: t("doorMain"), maxlength: 60 });

  async function loadKeys() {
    const { door_keys: keys } = await call("GET", `${base}/door-keys`);
    replace(
      keysBody,
      keys.map((key) =>
        h(
          "tr",
          { testid: `admin-door-key-${key.id}`, "data-revoked": key.revoked_at ? "true" : "false" },
          h("td", {}, key.label),
          h("td", {}, dateTime(key.created_at)),
          h("td", {}, key.revoked_at ? t("doorRevoked") : t("doorActive")),
          h(
            "td",
            {},
            key.revoked_at
              ? null
              : h(
                  "button",
                  {
                    type: "button",
                    class: "danger small",
                    testid: `admin-door-revoke-${key.id}`,
                    onclick: async () => {
                      try {
                        await call("DELETE", `${base}/door-keys/${encodeURIComponent(key.id)}`);
                        notify(t("doorKeyRevoked", { label: key.label }));
                        await loadKeys();
                      } catch (exc) {
                        fail(exc);
                      }
                    },
                  },
                  t("revoke"),
                ),
          ),
        ),
      ),
    );
  }

  async function create(e) {
    e.preventDefault();
    try {
      const made = await call("POST", `${base}/door-keys`, { body: { label: label.value.trim() } });
      shown.textContent = t("doorKeyShown", { label: made.label, key: made.door_key });
      shown.hidden = false;
      await loadKeys();
    } catch (exc) {
      fail(exc);
    }
  }

  async function poll() {
    if (stopped) return;
    try {
      const report = await call("GET", `${base}/door`);
      total.textContent = count(report.checked_in);
      total.dataset.value = String(report.checked_in);
      replace(
        gatesBody,
        report.gates.map((g) =>
          h("tr", { testid: `admin-door-gate-${g.gate}` }, h("td", {}, g.gate), h("td", { class: "num" }, count(g.checked_in)), h("td", { class: "num" }, count(g.inside_now))),
        ),
      );
      replace(
        conflictsBody,
        report.conflicts.map((c) =>
          h(
            "tr",
            { testid: `admin-door-conflict-${c.ticket_id}` },
            h("td", {}, c.number == null ? "" : String(c.number)),
            h("td", {}, c.seat || c.section),
            h("td", {}, `${c.first.gate} · ${dateTime(c.first.at)}`),
            h("td", {}, `${c.again.gate} · ${dateTime(c.again.at)}`),
          ),
        ),
      );
    } catch (exc) {
      fail(exc);
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  const th = (labels) => h("thead", {}, h("tr", {}, labels.map((l) => h("th", { scope: "col" }, l))));
  replace(
    root,
    h("p", {}, h("a", { href: `#/events/${encodeURIComponent(eventId)}`, testid: "admin-back" }, `← ${t("back")}`)),
    h("h1", { tabindex: -1 }, `${event.name}: ${t("door")}`),
    h("p", {}, h("a", { href: "/door", target: "_blank", rel: "noopener", testid: "admin-door-page" }, t("doorPage"), " /door")),
    h("div", { class: "tiles" }, h("div", { class: "tile" }, h("span", { class: "label" }, t("checkedIn")), total)),
    h(
      "section",
      { class: "panel", testid: "admin-door-gates" },
      h("h2", {}, t("doorGates")),
      h("table", {}, th([t("doorGate"), t("checkedIn"), t("insideNow")]), gatesBody),
    ),
    h(
      "section",
      { class: "panel", testid: "admin-door-conflicts" },
      h("h2", {}, t("doorConflicts")),
      h("p", { class: "muted" }, t("doorConflictsHelp")),
      h("table", {}, th([t("doorNumber"), t("doorSeat"), t("doorFirst"), t("doorAgain")]), conflictsBody),
    ),
    h(
      "section",
      { class: "panel", testid: "admin-door-keys" },
      h("h2", {}, t("doorKeys")),
      h(
        "form",
        { class: "toolbar", onsubmit: create },
        h("div", { class: "field" }, h("label", { for: "door-key-label" }, t("doorLabel")), label),
        h("button", { type: "submit", class: "primary", testid: "admin-door-key-create" }, t("doorKeyCreate")),
      ),
      shown,
      h("table", {}, th([t("doorLabel"), t("created"), t("status"), t("actions")]), keysBody),
    ),
  );
  await loadKeys();
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
