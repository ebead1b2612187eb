// Tickets sold per minute, drawn as inline SVG: no chart library.

import { s } from "./dom.js";
import { count, hourMinute, t } from "./i18n.js";

const MINUTE = 60_000;

/**
 * Live tickets per minute of their order's `created_at`, for the `minutes`
 * minutes ending with the one holding `now` (ms). Refunded tickets are void,
 * so a refund takes its sale off the chart.
 * Returns [{start: ms, count}] oldest first.
 */
export function perMinute(orders, now, minutes) {
  const last = Math.floor(now / MINUTE) * MINUTE;
  const first = last - (minutes - 1) * MINUTE;
  const buckets = Array.from({ length: minutes }, (_, i) => ({ start: first + i * MINUTE, count: 0 }));
  for (const order of orders) {
    const at = Math.floor(Date.parse(order.created_at) / MINUTE) * MINUTE;
    if (!(at >= first && at <= last)) continue;
    const live = order.tickets.filter((ticket) => ticket.status === "live").length;
    buckets[(at - first) / MINUTE].count += live;
  }
  return buckets;
}

const W = 600;
const H = 160;
const PAD = { left: 32, right: 8, top: 10, bottom: 22 };

export function salesChart(buckets) {
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const peak = buckets.reduce((max, b) => Math.max(max, b.count), 0);
  const minutes = buckets.length;
  const scale = Math.max(peak, 1);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / minutes;
  const bars = buckets.map((b, i) => {
    const height = (b.count / scale) * plotH;
    return s(
      "rect",
      {
        class: "bar",
        x: (PAD.left + i * step + 1).toFixed(1),
        y: (PAD.top + plotH - height).toFixed(1),
        width: Math.max(step - 2, 1).toFixed(1),
        height: height.toFixed(1),
        "data-minute": new Date(b.start).toISOString(),
        "data-count": b.count,
      },
      s("title", {}, t("chartBar", { time: hourMinute(new Date(b.start)), count: b.count })),
    );
  });
  const baseline = PAD.top + plotH;
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": t("chartSummary", { total: count(total), minutes, peak: count(peak) }),
      testid: "admin-sales-chart",
      "data-total": total,
      "data-peak": peak,
    },
    s("line", { class: "axis", x1: PAD.left, y1: baseline, x2: W - PAD.right, y2: baseline }),
    s("line", { class: "grid", x1: PAD.left, y1: PAD.top, x2: W - PAD.right, y2: PAD.top }),
    s("text", { class: "tick", x: PAD.left - 4, y: PAD.top + 4, "text-anchor": "end" }, count(scale)),
    s("text", { class: "tick", x: PAD.left - 4, y: baseline, "text-anchor": "end" }, "0"),
    s("text", { class: "tick", x: PAD.left, y: H - 4 }, hourMinute(new Date(buckets[0].start))),
    s("text", { class: "tick", x: W - PAD.right, y: H - 4, "text-anchor": "end" }, hourMinute(new Date(buckets[minutes - 1].start))),
    bars,
  );
}
