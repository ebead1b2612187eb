// What the page tells the fan outside the flow of a step: the error box
// (data-testid="error-message", role=alert), a notice, the polite live region,
// and which steps are on screen.

import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const STEPS = ["before", "queue", "shop", "checkout", "done"];

export function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

export function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

/** Said once by screen readers, politely (not on every queue push). */
export function announce(text) {
  $("announcer").textContent = text;
}

/** The fan's words for an API error (ApiError from api.js); `limit` is the
 * per-order ticket limit, named by limit_exceeded. */
export function errorText(err, limit = 6) {
  const code = err.code || "generic";
  const d = err.details || {};
  if (code === "seats_unavailable") {
    const seats = d.unavailable || [];
    return seats.length
      ? t("error.seats_unavailable", { seats: seats.join(", ") })
      : t("error.seats_unavailable_ga");
  }
  if (code === "limit_exceeded") return t("error.limit_exceeded", { n: limit });
  if (code === "rate_limited") return t("error.rate_limited", { seconds: err.retryAfter || 60 });
  const key = `error.${code}`;
  const text = t(key);
  return text === key ? t("error.generic", { code }) : text;
}

export const SESSION_CODES = ["unauthorized", "token_expired", "forbidden"];

export function show(...steps) {
  for (const step of STEPS) $(`step-${step}`).hidden = !steps.includes(step);
}

export function focusHeading(id) {
  const heading = $(id);
  if (heading) heading.focus();
}
