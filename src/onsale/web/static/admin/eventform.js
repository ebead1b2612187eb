// The event form: create an event (POST) or change one (PATCH). The server
// is the judge of what is valid: its `details.fields` (field path ->
// message) is shown next to the input of that path, each input carrying its
// API path in `data-field` (and its testid `admin-field-<path>`).

import { call, ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { clearErrors, errorSlot, field, numberInput, select, showErrors, textInput } from "./fields.js";
import { lang, money, t } from "./i18n.js";

// ------------------------------------------------------------ conversions

function pad(n) {
  return String(n).padStart(2, "0");
}

/** An ISO time as a `datetime-local` value in the browser's zone. */
export function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (the browser's zone) as ISO 8601 in UTC; null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value); // a date-time without offset is local time
  if (Number.isNaN(d.getTime())) return value; // the server names what is wrong
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function toInt(value) {
  const text = String(value).trim();
  if (text === "") return null;
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/** "25", "25.5", "25,50" -> cents; anything else goes as typed (the server refuses it). */
export function toCents(value) {
  const text = String(value).trim().replace(",", ".");
  if (text === "") return null;
  return /^\d+(\.\d{1,2})?$/.test(text) ? Math.round(Number(text) * 100) : text;
}

function centsText(cents) {
  return Number.isInteger(cents) ? (cents / 100).toFixed(2) : "";
}

function code(value) {
  return String(value).trim().toUpperCase();
}

// ------------------------------------------------------------ defaults

function at(daysAhead, hours, minutes) {
  const d = new Date();
  d.setDate(d.getDate() + daysAhead);
  d.setHours(hours, minutes, 0, 0);
  return d.toISOString();
}

function newEvent() {
  return {
    name: "",
    starts_at: at(30, 20, 0),
    language: lang,
    sale: { prequeue_opens_at: "", opens_at: at(7, 10, 0), closes_at: at(30, 18, 0) },
    admission: { rate_per_minute: 600, max_active: 200, session_seconds: 600 },
    hold_seconds: 480,
    limits: { per_order: 6, per_buyer: 6 },
    categories: [{ code: "STD", name: "Standard", price_cents: 2500, fee_cents: 100, currency: "EUR" }],
    sections: [],
  };
}

function nextRow(rows) {
  const last = rows.length ? rows[rows.length - 1].row : "";
  if (!last) return "A";
  return /^[A-Y]$/.test(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : "";
}

// ------------------------------------------------------------ the form

/**
 * The form for a new event (`event` null) or to change `event`.
 * `onSaved(event)` runs with the API's answer.
 */
export function eventForm({ event, onSaved, onCancel }) {
  const editing = Boolean(event);
  const data = event || newEvent();
  const categories = data.categories.map((c) => ({
    code: c.code,
    name: c.name,
    price: centsText(c.price_cents),
    fee: centsText(c.fee_cents),
    currency: c.currency,
  }));
  const sections = data.sections.map((s) => ({
    code: s.code,
    kind: s.kind,
    category: s.category,
    capacity: s.kind === "ga" ? String(s.capacity) : "",
    rows: (s.rows || []).map((r) => ({ row: r.row, seats: String(r.seats) })),
  }));

  const summary = h("div", { class: "form-errors", testid: "admin-form-errors", role: "alert", hidden: true });
  const categoriesList = h("div", { class: "list" });
  const sectionsList = h("div", { class: "list" });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  function focusLast(list) {
    const groups = list.querySelectorAll(":scope > fieldset");
    const input = groups.length ? groups[groups.length - 1].querySelector("input, select") : null;
    if (input) input.focus();
  }

  function renderCategories() {
    replace(
      categoriesList,
      categories.map((c, i) => {
        const path = `categories[${i}]`;
        const bind = (key) => (e) => {
          c[key] = e.target.value;
          if (key === "code") renderSections();
        };
        return h(
          "fieldset",
          { class: "item", testid: `admin-category-${i}` },
          h("legend", {}, t("category", { n: i + 1 })),
          h(
            "div",
            { class: "row-fields" },
            field(`${path}.code`, t("code"), textInput(c.code, { oninput: bind("code"), class: "code", maxlength: 16 })),
            field(`${path}.name`, t("name"), textInput(c.name, { oninput: bind("name") })),
            field(`${path}.price_cents`, t("price"), textInput(c.price, { oninput: bind("price"), inputmode: "decimal", class: "short" })),
            field(`${path}.fee_cents`, t("fee"), textInput(c.fee, { oninput: bind("fee"), inputmode: "decimal", class: "short" })),
            field(`${path}.currency`, t("currency"), textInput(c.currency, { oninput: bind("currency"), class: "code short", maxlength: 3 })),
          ),
          categories.length > 1
            ? h(
                "button",
                {
                  type: "button",
                  class: "link",
                  testid: `admin-category-remove-${i}`,
                  onclick: () => {
                    categories.splice(i, 1);
                    renderCategories();
                    renderSections();
                  },
                },
                t("remove"),
              )
            : null,
        );
      }),
    );
  }

  function rowsEditor(s, path) {
    const list = h("div", { class: "rows" });
    const render = () =>
      replace(
        list,
        s.rows.map((r, j) =>
          h(
            "div",
            { class: "row-fields seat-row", testid: `admin-row-${path}-${j}` },
            field(`${path}.rows[${j}].row`, t("row"), textInput(r.row, { oninput: (e) => (r.row = e.target.value), class: "code short", maxlength: 4 })),
            field(`${path}.rows[${j}].seats`, t("seats"), numberInput(r.seats, { oninput: (e) => (r.seats = e.target.value), min: 1, max: 200, class: "short" })),
            h(
              "button",
              {
                type: "button",
                class: "link",
                testid: `admin-row-remove-${path}-${j}`,
                onclick: () => {
                  s.rows.splice(j, 1);
                  render();
                },
              },
              t("removeRow", { row: r.row || j + 1 }),
            ),
          ),
        ),
      );
    render();
    return h(
      "div",
      { class: "rows-editor" },
      h("p", { class: "label" }, t("rows")),
      errorSlot(`${path}.rows`),
      list,
      h(
        "button",
        {
          type: "button",
          testid: `admin-row-add-${path}`,
          onclick: () => {
            s.rows.push({ row: nextRow(s.rows), seats: "10" });
            render();
            const inputs = list.querySelectorAll("input");
            if (inputs.length) inputs[inputs.length - 2].focus();
          },
        },
        t("addRow"),
      ),
    );
  }

  function renderSections() {
    const codes = categories.map((c) => code(c.code)).filter(Boolean);
    replace(
      sectionsList,
      sections.map((s, i) => {
        const path = `sections[${i}]`;
        if (!codes.includes(s.category) && codes.length) s.category = codes[0];
        return h(
          "fieldset",
          { class: "item", testid: `admin-section-${i}` },
          h("legend", {}, t("section", { n: i + 1 }), " · ", t(`kind.${s.kind}`)),
          h(
            "div",
            { class: "row-fields" },
            field(`${path}.code`, t("code"), textInput(s.code, { oninput: (e) => (s.code = e.target.value), class: "code", maxlength: 16 })),
            field(
              `${path}.category`,
              t("category", { n: "" }).trim(),
              select(codes.map((c) => [c, c]), s.category, { onchange: (e) => (s.category = e.target.value) }),
            ),
            s.kind === "ga"
              ? field(`${path}.capacity`, t("capacity"), numberInput(s.capacity, { oninput: (e) => (s.capacity = e.target.value), min: 1, class: "short" }))
              : null,
          ),
          s.kind === "seated" ? rowsEditor(s, path) : null,
          h(
            "button",
            {
              type: "button",
              class: "link",
              testid: `admin-section-remove-${i}`,
              onclick: () => {
                sections.splice(i, 1);
                renderSections();
              },
            },
            t("remove"),
          ),
        );
      }),
    );
  }

  function addSection(kind) {
    const category = code(categories[0]?.code || "");
    sections.push(
      kind === "ga"
        ? { code: "", kind, category, capacity: "100", rows: [] }
        : { code: "", kind, category, capacity: "", rows: [{ row: "A", seats: "10" }] },
    );
    renderSections();
    focusLast(sectionsList);
  }

  const dt = (path, label, iso, help) => field(path, label, h("input", { type: "datetime-local", value: toLocalInput(iso) }), help);
  const num = (path, label, value, attrs) => field(path, label, numberInput(value, attrs));

  const structure = editing ? readOnlyStructure(data) : null;
  const form = h(
    "form",
    { class: "event-form", novalidate: true, testid: "admin-event-form" },
    summary,
    h(
      "fieldset",
      {},
      h("legend", {}, t("general")),
      field("name", t("name"), textInput(data.name, { maxlength: 200 })),
      dt("starts_at", t("startsAt"), data.starts_at),
      field("language", t("language"), select([["en", t("lang.en")], ["fr", t("lang.fr")]], data.language)),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("saleWindow")),
      h("p", { class: "help" }, t("zoneHelp", { zone })),
      dt("sale.prequeue_opens_at", t("prequeueOpensAt"), data.sale.prequeue_opens_at, t("prequeueHelp")),
      dt("sale.opens_at", t("opensAt"), data.sale.opens_at),
      dt("sale.closes_at", t("closesAt"), data.sale.closes_at),
      errorSlot("sale"),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("admission")),
      num("admission.rate_per_minute", t("ratePerMinute"), data.admission.rate_per_minute, { min: 1 }),
      num("admission.max_active", t("maxActive"), data.admission.max_active, { min: 1 }),
      num("admission.session_seconds", t("sessionSeconds"), data.admission.session_seconds, { min: 60, max: 7200 }),
      num("hold_seconds", t("holdSeconds"), data.hold_seconds, { min: 30, max: 3600 }),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("limits")),
      num("limits.per_order", t("perOrder"), data.limits.per_order, { min: 1, max: 100 }),
      num("limits.per_buyer", t("perBuyer"), data.limits.per_buyer, { min: 1, max: 1000 }),
    ),
    editing
      ? structure
      : [
          h(
            "fieldset",
            { testid: "admin-categories" },
            h("legend", {}, t("categories")),
            errorSlot("categories"),
            categoriesList,
            h(
              "button",
              {
                type: "button",
                testid: "admin-category-add",
                onclick: () => {
                  categories.push({ code: "", name: "", price: "", fee: "0.00", currency: categories[0]?.currency || "EUR" });
                  renderCategories();
                  renderSections();
                  focusLast(categoriesList);
                },
              },
              t("addCategory"),
            ),
          ),
          h(
            "fieldset",
            { testid: "admin-sections" },
            h("legend", {}, t("sections")),
            errorSlot("sections"),
            sectionsList,
            h(
              "div",
              { class: "buttons" },
              h("button", { type: "button", testid: "admin-section-add-ga", onclick: () => addSection("ga") }, t("addGa")),
              h("button", { type: "button", testid: "admin-section-add-seated", onclick: () => addSection("seated") }, t("addSeated")),
            ),
          ),
        ],
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit", class: "primary", testid: "admin-event-submit" }, editing ? t("save") : t("create")),
      h("button", { type: "button", testid: "admin-event-cancel", onclick: onCancel }, t("cancel")),
    ),
  );
  if (!editing) {
    renderCategories();
    renderSections();
  }

  const value = (path) => form.querySelector(`[data-field="${CSS.escape(path)}"]`).value;

  function body() {
    const out = {
      name: value("name"),
      starts_at: fromLocalInput(value("starts_at")),
      language: value("language"),
      sale: {
        opens_at: fromLocalInput(value("sale.opens_at")),
        closes_at: fromLocalInput(value("sale.closes_at")),
      },
      admission: {
        rate_per_minute: toInt(value("admission.rate_per_minute")),
        max_active: toInt(value("admission.max_active")),
        session_seconds: toInt(value("admission.session_seconds")),
      },
      hold_seconds: toInt(value("hold_seconds")),
      limits: { per_order: toInt(value("limits.per_order")), per_buyer: toInt(value("limits.per_buyer")) },
    };
    const prequeue = fromLocalInput(value("sale.prequeue_opens_at"));
    if (prequeue) out.sale.prequeue_opens_at = prequeue;
    if (editing) return out; // categories and sections are fixed
    out.categories = categories.map((c) => ({
      code: code(c.code),
      name: c.name,
      price_cents: toCents(c.price),
      fee_cents: toCents(c.fee) ?? 0,
      currency: code(c.currency),
    }));
    out.sections = sections.map((s) =>
      s.kind === "ga"
        ? { code: code(s.code), kind: "ga", category: s.category, capacity: toInt(s.capacity) }
        : {
            code: code(s.code),
            kind: "seated",
            category: s.category,
            rows: s.rows.map((r) => ({ row: code(r.row), seats: toInt(r.seats) })),
          },
    );
    return out;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form, summary);
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    try {
      const saved = editing
        ? await call("PATCH", `/api/admin/events/${encodeURIComponent(event.id)}`, { body: body() })
        : await call("POST", "/api/admin/events", { body: body() });
      onSaved(saved);
    } catch (exc) {
      // Not the API's refusal (a bug here): still say something rather than nothing.
      showErrors(form, summary, exc instanceof ApiError ? exc : { fields: {}, message: String(exc) });
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function readOnlyStructure(event) {
  return h(
    "fieldset",
    { class: "structure", testid: "admin-event-structure" },
    h("legend", {}, t("categories"), " · ", t("sections")),
    h("p", { class: "help" }, t("fixedAfterCreation")),
    h(
      "ul",
      {},
      event.categories.map((c) =>
        h("li", { testid: `admin-structure-category-${c.code}` }, `${c.code} · ${c.name} · ${money(c.price_cents, c.currency)} + ${money(c.fee_cents, c.currency)}`),
      ),
    ),
    h(
      "ul",
      {},
      event.sections.map((s) =>
        h(
          "li",
          { testid: `admin-structure-section-${s.code}` },
          `${s.code} · ${t(`kind.${s.kind}`)} · ${s.category} · ${t("capacity")} ${s.capacity}`,
          s.kind === "seated" ? ` · ${t("rows")} ${s.rows.map((r) => `${r.row} (${r.seats})`).join(", ")}` : "",
        ),
      ),
    ),
  );
}

