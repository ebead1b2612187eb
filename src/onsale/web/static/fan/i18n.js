// The page's words: the dictionary of its language, inlined by the server
// (src/onsale/web/static/fan/i18n/<lang>.json), and locale-aware formatting.

const main = document.getElementById("fan");
export const lang = main.dataset.language || "en";
const strings = JSON.parse(document.getElementById("strings").textContent);

/** The phrase `key` with its {slots} filled from `vars`. */
export function t(key, vars = {}) {
  const phrase = strings[key] ?? key;
  return phrase.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

const moneyFormats = new Map();

/** Integer cents as money in the page's language ("25,00 €", "€25.00"). */
export function money(cents, currency) {
  if (!moneyFormats.has(currency)) {
    moneyFormats.set(currency, new Intl.NumberFormat(lang, { style: "currency", currency }));
  }
  return moneyFormats.get(currency).format(cents / 100);
}

const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" });

export function dateTime(iso) {
  return dateFormat.format(new Date(iso));
}

/** A countdown: "1:05:09", "4:09", "0:07". */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

const unitFormats = {};

/** A rounded duration in words: "3 minutes", "1 heure". */
export function duration(seconds) {
  const s = Math.max(0, seconds);
  let unit = "second";
  let value = Math.ceil(s);
  if (s >= 5400) {
    unit = "hour";
    value = Math.round(s / 3600);
  } else if (s >= 60) {
    unit = "minute";
    value = Math.ceil(s / 60);
  }
  unitFormats[unit] ??= new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay: "long" });
  return unitFormats[unit].format(value);
}
