// Labelled inputs that know their API field path, and the display of a 422's
// `details.fields` next to them: each input carries its path in `data-field`
// and the testid `admin-field-<path>`; its message goes to the element with
// `data-error-for="<path>"` (testid `admin-field-error-<path>`).

import { h, idFor, replace } from "./dom.js";
import { t } from "./i18n.js";

export function errorSlot(path) {
  return h("p", {
    class: "field-error",
    id: idFor("error", path),
    testid: `admin-field-error-${path}`,
    "data-error-for": path,
    hidden: true,
  });
}

export function field(path, label, input, help) {
  const id = idFor("field", path);
  const helpId = help ? idFor("help", path) : null;
  input.id = id;
  input.dataset.field = path;
  input.dataset.testid = `admin-field-${path}`;
  input.setAttribute("aria-describedby", [helpId, idFor("error", path)].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    help ? h("p", { class: "help", id: helpId }, help) : null,
    errorSlot(path),
  );
}

export function textInput(value, attrs = {}) {
  return h("input", { type: "text", value: value ?? "", autocomplete: "off", ...attrs });
}

export function numberInput(value, attrs = {}) {
  return h("input", { type: "number", step: 1, inputmode: "numeric", value: value ?? "", ...attrs });
}

export function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
}

export function clearErrors(form, summary) {
  summary.hidden = true;
  summary.replaceChildren();
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function labelOf(form, path) {
  const input = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
  const label = input && form.querySelector(`label[for="${CSS.escape(input.id)}"]`);
  return label ? label.textContent : path || "—";
}

export function showErrors(form, summary, exc) {
  const fields = exc.fields;
  let first = null;
  for (const [path, message] of Object.entries(fields)) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
    const input = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
    }
    if (input) input.setAttribute("aria-invalid", "true");
    first = first || input || slot;
  }
  const lines = Object.entries(fields).map(([path, message]) => h("li", {}, `${labelOf(form, path)}: ${message}`));
  replace(summary, h("p", {}, lines.length ? t("fixErrors") : exc.message), lines.length ? h("ul", {}, lines) : null);
  summary.hidden = false;
  if (first && first.focus) {
    if (!first.matches("input, select")) first.setAttribute("tabindex", "-1");
    first.focus();
  }
}
