// The venue's audit log (managers only): who did what, when, from where.
// It holds ids, roles and counts, never a buyer's data.

import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, t } from "./i18n.js";

function details(entry) {
  return Object.entries(entry.details || {})
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(", ");
}

export async function auditView(view, { fail }) {
  const h1 = h("h1", { tabindex: -1 }, t("auditTitle"));
  const body = h("tbody", {});
  const table = h(
    "table",
    { class: "audit", testid: "audit-list" },
    h("thead", {}, h("tr", {}, [t("auditWhen"), t("auditWho"), t("staffRole"), t("auditWhat"), t("auditTarget"), t("auditFrom"), t("auditDetails")].map((label) => h("th", { scope: "col" }, label)))),
    body,
  );
  let before = null;
  const more = h("button", { type: "button", testid: "audit-more", hidden: true }, t("auditMore"));

  async function load() {
    const page = await call("GET", `/api/admin/audit?limit=50${before ? `&before=${before}` : ""}`);
    body.append(
      ...page.entries.map((e) =>
        h(
          "tr",
          { testid: `audit-${e.id}`, "data-action": e.action },
          h("td", {}, dateTime(e.at)),
          h("td", { class: "mono" }, e.actor),
          h("td", {}, e.role ? t(`role.${e.role}`) : "–"),
          h("td", {}, e.action),
          h("td", { class: "mono" }, e.target),
          h("td", { class: "mono" }, e.address || "–"),
          h("td", {}, details(e)),
        ),
      ),
    );
    before = page.next_before;
    more.hidden = !before;
    table.dataset.count = String(body.children.length);
  }
  more.addEventListener("click", () => load().catch(fail));

  await load();
  replace(view, h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)), h1, h("p", { class: "help" }, t("auditHelp")), h("div", { class: "scroll" }, table), more);
  h1.focus();
}
