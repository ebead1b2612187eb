// The venue's staff (managers only): each person gets their own key with a
// role (shown once), and can be revoked at once.

import { call } from "./api.js";
import { h, replace } from "./dom.js";
import { dateTime, t } from "./i18n.js";

const ROLES = ["viewer", "door", "boxoffice", "manager"];

/** The staff view in `view`; `notify`/`fail` as in main.js. */
export async function staffView(view, { notify, fail }) {
  const h1 = h("h1", { tabindex: -1 }, t("staffTitle"));
  const body = h("tbody", {});
  const table = h(
    "table",
    { class: "staff", testid: "staff-list" },
    h("thead", {}, h("tr", {}, [t("staffEmail"), t("staffRole"), t("createdAt"), t("lastUsed"), t("status"), t("actions")].map((label) => h("th", { scope: "col" }, label)))),
    body,
  );
  const result = h("div", {});

  let pending = null;
  const dialogText = h("p", {});
  const dialog = h(
    "dialog",
    { class: "confirm", testid: "staff-revoke-dialog", "aria-labelledby": "staff-revoke-title" },
    h("h3", { id: "staff-revoke-title" }, t("staffRevokeTitle")),
    dialogText,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", autofocus: true, onclick: () => dialog.close() }, t("cancel")),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          testid: "staff-revoke-confirm",
          onclick: async () => {
            dialog.close();
            if (!pending) return;
            try {
              await call("DELETE", `/api/admin/staff/${encodeURIComponent(pending.staff_id)}`);
              notify(t("staffRevoked", { email: pending.email }));
              await show();
            } catch (exc) {
              fail(exc);
            }
          },
        },
        t("revoke"),
      ),
    ),
  );

  function row(person) {
    return h(
      "tr",
      { testid: `staff-${person.staff_id}`, "data-active": String(person.active) },
      h("td", {}, person.email),
      h("td", {}, t(`role.${person.role}`)),
      h("td", {}, dateTime(person.created_at)),
      h("td", {}, person.last_used_at ? dateTime(person.last_used_at) : "–"),
      h("td", {}, person.active ? t("key.active") : t("key.revoked")),
      h(
        "td",
        {},
        person.active
          ? h(
              "button",
              {
                type: "button",
                class: "danger small",
                testid: `staff-revoke-${person.staff_id}`,
                "aria-label": `${t("revoke")} ${person.email}`,
                onclick: () => {
                  pending = person;
                  dialogText.textContent = t("staffRevokeText", { email: person.email });
                  dialog.showModal();
                },
              },
              t("revoke"),
            )
          : null,
      ),
    );
  }

  async function show() {
    const { staff } = await call("GET", "/api/admin/staff");
    replace(body, staff.map(row));
    table.dataset.count = String(staff.length);
  }

  const email = h("input", { type: "email", id: "staff-email", required: true, autocomplete: "off", testid: "staff-email" });
  const role = h("select", { id: "staff-role", testid: "staff-role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const create = h("button", { type: "submit", class: "primary", testid: "staff-create" }, t("staffCreate"));
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "staff-new-title" },
    h("h2", { id: "staff-new-title" }, t("staffNew")),
    h("p", { class: "help" }, t("staffHelp")),
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "staff-email" }, t("staffEmail")), email),
      h("div", { class: "field" }, h("label", { for: "staff-role" }, t("staffRole")), role),
      create,
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    create.disabled = true;
    try {
      const made = await call("POST", "/api/admin/staff", { body: { email: email.value.trim(), role: role.value } });
      const key = h("input", { type: "text", id: "staff-new-key", class: "mono wide", readonly: true, value: made.api_key, testid: "staff-new-key" });
      replace(
        result,
        h(
          "section",
          { class: "panel result", "aria-labelledby": "staff-key-title" },
          h("h2", { id: "staff-key-title" }, t("staffKeyTitle", { email: made.email })),
          h("div", { class: "field" }, h("label", { for: "staff-new-key" }, t("newKey")), key),
          h("p", { role: "status" }, t("staffKeyOnce")),
        ),
      );
      email.value = "";
      await show();
      key.focus();
      key.select();
    } catch (exc) {
      fail(exc);
    } finally {
      create.disabled = false;
    }
  });

  await show();
  replace(
    view,
    h("p", {}, h("a", { href: "#/", testid: "admin-back" }, `← ${t("back")}`)),
    h1,
    form,
    result,
    h("section", { class: "panel", "aria-labelledby": "staff-list-title" }, h("h2", { id: "staff-list-title" }, t("staffList")), h("div", { class: "scroll" }, table), dialog),
  );
  h1.focus();
}
