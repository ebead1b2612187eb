// The seat map of the seated sections and the quantity pickers of the
// standing ones. Each seat is a button (data-testid="seat-<ID>", data-state
// free|held|sold|mine, aria-pressed when chosen). Keyboard: Tab enters a
// section, the arrow keys move (roving tabindex), Home/End go to the row's
// ends, Enter or Space chooses.

import { t, money } from "./i18n.js";

// The server shares one seat map among the requests of a second (max-age=1),
// so a map may be up to a second older than what this page just learned from
// its own requests. For this long the page keeps what it learned: the seats a
// refused hold named stay taken, the seats it released itself stay free,
// unless a map says otherwise.
const LEARNED_MS = 4000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children);
  return node;
}

export class SeatMap {
  /**
   * event: GET /api/events/{id}; handlers: change(), best(section, quantity),
   * notice(text); options.learnedMs: see LEARNED_MS (0 turns it off: a test).
   */
  constructor(container, event, handlers, { learnedMs = LEARNED_MS } = {}) {
    this.learnedMs = learnedMs;
    this.container = container;
    this.event = event;
    this.on = handlers;
    this.perOrder = (event.limits && event.limits.per_order) || 6;
    this.buttons = new Map(); // seat id -> button
    this.states = new Map(); // seat id -> server state
    this.info = new Map(); // seat id -> {section, row, number}
    this.selected = new Set();
    this.mine = new Set();
    this.learned = new Map(); // seat id -> {state, until}: see LEARNED_MS
    this.gaInputs = new Map();
    this.availability = new Map();
    this.built = false;
  }

  category(code) {
    const section = this.event.sections.find((s) => s.code === code);
    return this.event.categories.find((c) => c.code === (section && section.category));
  }

  sectionLabel(section) {
    const cat = this.category(section.code);
    const name = section.kind === "ga" ? t("ga.title") : cat ? cat.name : section.code;
    return t("section.label", {
      name,
      section: section.code,
      price: cat ? money(cat.price_cents, cat.currency) : "",
      available: section.available,
    });
  }

  /** Build once, from the event and the first seat list. */
  build(seats) {
    this.container.replaceChildren();
    const bySection = new Map();
    for (const seat of seats) {
      if (!bySection.has(seat.section)) bySection.set(seat.section, new Map());
      const rows = bySection.get(seat.section);
      if (!rows.has(seat.row)) rows.set(seat.row, []);
      rows.get(seat.row).push(seat);
    }
    for (const section of this.event.sections) {
      if (section.kind === "ga") this.container.append(this.buildGa(section));
      else this.container.append(this.buildSeated(section, bySection.get(section.code) || new Map()));
    }
    this.container.append(this.legend());
    this.built = true;
    this.update(seats);
  }

  buildGa(section) {
    const id = `ga-${section.code}`;
    const input = el("input", {
      id,
      type: "number",
      inputmode: "numeric",
      min: "0",
      max: String(this.perOrder),
      value: "0",
      "data-testid": "ga-quantity",
      "data-section": section.code,
    });
    input.addEventListener("input", () => {
      if (Number(input.value) > 0 && this.selected.size) {
        this.selected.clear();
        this.refreshAll();
      }
      this.on.change();
    });
    this.gaInputs.set(section.code, input);
    const legend = el("legend", { id: `legend-${section.code}`, text: this.sectionLabel(section) });
    this.availability.set(section.code, legend);
    return el(
      "fieldset",
      { class: "section ga" },
      legend,
      el("label", { for: id, text: t("ga.quantity") }),
      input,
    );
  }

  buildSeated(section, rows) {
    const legend = el("legend", { text: this.sectionLabel(section) });
    this.availability.set(section.code, legend);
    const grid = el("div", { class: "seats", role: "group", "aria-label": section.code });
    let first = true;
    for (const [row, seats] of rows) {
      const rowBox = el("div", { class: "row", role: "group", "aria-label": t("seat.row", { row }) });
      rowBox.append(el("span", { class: "row-name", "aria-hidden": "true", text: row }));
      for (const seat of seats.sort((a, b) => a.number - b.number)) {
        const button = el("button", {
          type: "button",
          class: "seat",
          "data-testid": `seat-${seat.id}`,
          "data-seat": seat.id,
          tabindex: first ? "0" : "-1",
          text: String(seat.number),
        });
        first = false;
        this.buttons.set(seat.id, button);
        this.info.set(seat.id, seat);
        button.addEventListener("click", () => this.toggle(seat.id));
        rowBox.append(button);
      }
      grid.append(rowBox);
    }
    grid.addEventListener("keydown", (ev) => this.onKey(ev, grid));
    const bestId = `best-${section.code}`;
    const best = el("input", {
      id: bestId,
      type: "number",
      inputmode: "numeric",
      min: "1",
      max: String(this.perOrder),
      value: "2",
    });
    const bestButton = el("button", { type: "button", class: "secondary", text: t("best.submit") });
    bestButton.addEventListener("click", () => this.on.best(section.code, Number(best.value)));
    return el(
      "fieldset",
      { class: "section seated" },
      legend,
      el("p", { class: "stage", "aria-hidden": "true", text: t("seat.stage") }),
      el("p", { class: "hint", text: t("seat.keys") }),
      el("div", { class: "scroller" }, grid),
      el("div", { class: "best" }, el("label", { for: bestId, text: t("best.quantity") }), best, bestButton),
    );
  }

  legend() {
    const items = ["free", "held", "sold", "mine"].map((state) =>
      el("li", {}, el("span", { class: "seat swatch", "data-state": state, "aria-hidden": "true" }), t(`seat.state.${state}`)),
    );
    items.push(
      el("li", {}, el("span", { class: "seat swatch", "data-state": "free", "aria-pressed": "true", "aria-hidden": "true" }), t("seat.selected")),
    );
    return el("div", { class: "legend" }, el("span", { text: t("shop.legend") }), el("ul", {}, ...items));
  }

  /** New seat states (GET .../seats) and section counts (GET /api/events/{id}). */
  update(seats, event = null) {
    for (const seat of seats) this.states.set(seat.id, seat.state);
    let dropped = false;
    for (const id of [...this.selected]) {
      if (!this.isFree(id)) {
        this.selected.delete(id);
        dropped = true;
      }
    }
    this.refreshAll();
    if (event) {
      this.event = { ...this.event, sections: event.sections };
      for (const section of event.sections) {
        const legend = this.availability.get(section.code);
        if (legend) legend.textContent = this.sectionLabel(section);
      }
    }
    if (dropped) this.on.change();
  }

  stateOf(id) {
    if (this.mine.has(id)) return "mine";
    const server = this.states.get(id) || "free";
    const learned = this.learned.get(id);
    if (!learned) return server;
    if (learned.until <= Date.now()) {
      this.learned.delete(id);
      return server;
    }
    // A map that still shows the seat as it was before (free for a taken
    // seat, held for a released one) is older than what the page knows.
    if (learned.state === "held" && server === "free") return "held";
    if (learned.state === "free" && server === "held") return "free";
    return server;
  }

  learn(seats, state) {
    const until = Date.now() + this.learnedMs;
    for (const id of seats) this.learned.set(id, { state, until });
  }

  isFree(id) {
    const state = this.stateOf(id);
    return state === "free" || state === "mine";
  }

  refreshAll() {
    for (const id of this.buttons.keys()) this.refresh(id);
  }

  refresh(id) {
    const button = this.buttons.get(id);
    const seat = this.info.get(id);
    const state = this.stateOf(id);
    const chosen = this.selected.has(id);
    if (button.dataset.state !== state) button.dataset.state = state;
    button.setAttribute("aria-pressed", chosen ? "true" : "false");
    if (this.isFree(id)) button.removeAttribute("aria-disabled");
    else button.setAttribute("aria-disabled", "true");
    const stateWord = chosen && state === "free" ? t("seat.selected") : t(`seat.state.${state}`);
    const label = t("seat.label", { section: seat.section, row: seat.row, number: seat.number, state: stateWord });
    if (button.getAttribute("aria-label") !== label) button.setAttribute("aria-label", label);
  }

  toggle(id) {
    if (!this.isFree(id)) return;
    if (this.selected.has(id)) {
      this.selected.delete(id);
    } else {
      const section = this.info.get(id).section;
      const other = [...this.selected].find((s) => this.info.get(s).section !== section);
      if (other) {
        this.on.notice(t("hold.other_section", { section: this.info.get(other).section }));
        this.selected.clear();
      }
      if (this.selected.size >= this.perOrder) {
        this.on.notice(t("error.too_many", { n: this.perOrder }));
        return;
      }
      this.selected.add(id);
      for (const input of this.gaInputs.values()) input.value = "0";
    }
    this.refreshAll();
    this.on.change();
  }

  /** Seats of the fan's live hold (shown as "mine"); the choice follows them. */
  setMine(seats) {
    // The seats of a hold that ends (released, expired, paid) are not held
    // by this page any more: free unless a fresh map says otherwise.
    this.learn([...this.mine].filter((id) => !seats.includes(id)), "free");
    for (const id of seats) this.learned.delete(id);
    this.mine = new Set(seats);
    this.selected = new Set(seats);
    this.refreshAll();
    this.on.change();
  }

  /** Forget these seats from the choice (someone else took them). */
  drop(seats) {
    this.learn(seats, "held");
    for (const id of seats) this.selected.delete(id);
    this.refreshAll();
    this.on.change();
  }

  /** The hold request the choice makes, or null when nothing is chosen. */
  request() {
    if (this.selected.size) return { seats: this.sortedSelection() };
    for (const [section, input] of this.gaInputs) {
      const quantity = Number(input.value);
      if (Number.isInteger(quantity) && quantity > 0) return { section, quantity };
    }
    return null;
  }

  sortedSelection() {
    const order = [...this.buttons.keys()];
    return [...this.selected].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  }

  onKey(ev, grid) {
    const current = ev.target.closest("button.seat");
    if (!current) return;
    const rows = [...grid.querySelectorAll(".row")].map((r) => [...r.querySelectorAll("button.seat")]);
    const r = rows.findIndex((row) => row.includes(current));
    const c = rows[r].indexOf(current);
    let target = null;
    if (ev.key === "ArrowRight") target = rows[r][c + 1];
    else if (ev.key === "ArrowLeft") target = rows[r][c - 1];
    else if (ev.key === "ArrowDown" && rows[r + 1]) target = rows[r + 1][Math.min(c, rows[r + 1].length - 1)];
    else if (ev.key === "ArrowUp" && rows[r - 1]) target = rows[r - 1][Math.min(c, rows[r - 1].length - 1)];
    else if (ev.key === "Home") target = rows[r][0];
    else if (ev.key === "End") target = rows[r][rows[r].length - 1];
    else return;
    ev.preventDefault();
    if (!target) return;
    current.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }
}
