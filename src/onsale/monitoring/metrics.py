"""Every Prometheus metric of onsale, declared in one place.

Names are ``onsale_<area>_<thing>_<unit>``, where the unit is a base unit
(``seconds``, ``cents``) or, for a count, the thing counted (``fans``,
``places``); counters end in ``_total``. Labels never carry a user id, a token,
an e-mail address or a raw path: their values come from fixed sets (route
templates, error codes, script and operation names) or, for the per-event
figures, from the ids of the events whose sale is live.

Two kinds live here:

- per-process metrics (the objects below), which prometheus-client keeps in
  shared files when several worker processes serve (multiprocess mode): the
  exposition sums them over the workers;
- per-event figures, read from Redis and Postgres at scrape time by
  :mod:`onsale.monitoring.collector` and exposed once per scrape by the process
  that answers it (every process would read the same truth). Their names and
  help texts and labels are the :data:`EVENT_FIGURES` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from onsale.errors import OnsaleError

# Latency buckets around what an on-call person reads: a hold must answer in
# well under 50 ms (an alert fires above), a checkout within a second or two.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# ------------------------------------------------------------------- HTTP edge

HTTP_REQUESTS = Counter(
    "onsale_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "onsale_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=(*FAST_BUCKETS, 2.5, 5.0, 10.0),
)
HTTP_ERRORS = Counter(
    "onsale_http_errors_total",
    "Error answers (4xx and 5xx), by the error code of their body",
    ["code"],
)

# ----------------------------------------------------------------- websockets

WS_CONNECTIONS = Gauge(
    "onsale_ws_connections",
    "Websocket fans connected (summed over the live worker processes)",
    multiprocess_mode="livesum",
)
WS_MESSAGES_PUSHED = Counter("onsale_ws_messages_pushed_total", "Messages sent to websocket fans")
WS_MESSAGES_DROPPED = Counter(
    "onsale_ws_messages_dropped_total",
    "Status messages replaced by a newer one before they could be sent",
)
WS_SLOW_DISCONNECTS = Counter(
    "onsale_ws_slow_disconnects_total", "Fans disconnected for not keeping up"
)
WS_PUSH_PASS_SECONDS = Histogram(
    "onsale_ws_push_pass_seconds",
    "Time of one push pass over every connected fan",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

# ---------------------------------------------------------------------- queue

QUEUE_ADMITTED = Counter(
    "onsale_queue_admitted_total", "Fans admitted by this process' admission steps"
)
QUEUE_SKIPPED_AWAY = Counter(
    "onsale_queue_skipped_away_total", "Fans skipped at admission for being away"
)
QUEUE_PARKED_AWAY = Counter(
    "onsale_queue_parked_away_total",
    "Admitted shoppers parked as gone by this process' admission steps (unseen past "
    "the shopper grace, holding nothing)",
)
QUEUE_PRESENCE_BEATS = Counter(
    "onsale_queue_presence_beats_total", "Presence heartbeats of admitted shoppers' pages"
)
QUEUE_ADMISSION_RUNS = Counter(
    "onsale_queue_admission_runs_total", "Admission script runs by this process"
)

# ------------------------------------------------------------ holds, checkout

HOLD_SECONDS = Histogram(
    "onsale_inventory_hold_duration_seconds",
    "Time to take a hold, by outcome (ok or the error code)",
    ["outcome"],
    buckets=FAST_BUCKETS,
)
CHECKOUT_SECONDS = Histogram(
    "onsale_checkout_duration_seconds",
    "Time of a checkout (payment included), by outcome (ok or the error code)",
    ["outcome"],
    buckets=SLOW_BUCKETS,
)
PAYMENT_CALL_SECONDS = Histogram(
    "onsale_payment_call_duration_seconds",
    "Time of one call to a payment provider, by provider and operation",
    ["provider", "op"],
    buckets=SLOW_BUCKETS,
)
RECONCILER_REPAIRS = Counter(
    "onsale_reconciler_repairs_total",
    "Repairs made by the reconciler (Redis or a payment brought back in line), by kind",
    ["kind"],
)

# ---------------------------------------------------------- buyers' data

BUYERS_ANONYMIZED = Counter(
    "onsale_buyers_anonymized_total",
    "Orders whose buyer was anonymized, by kind (request: an erasure; retention: the job)",
    ["kind"],
)
RETENTION_LAST_RUN = Gauge(
    "onsale_retention_last_run_timestamp_seconds",
    "When the retention job last finished a pass (Unix time)",
    multiprocess_mode="max",
)
RETENTION_EVENTS_PENDING = Gauge(
    "onsale_retention_events_pending",
    "Events past their retention whose buyers are not all anonymized yet (at the last pass)",
    multiprocess_mode="mostrecent",
)

# ------------------------------------------------------------------- backends

REDIS_SCRIPT_SECONDS = Histogram(
    "onsale_redis_script_duration_seconds",
    "Time of one Lua script call, by script",
    ["script"],
    buckets=FAST_BUCKETS,
)
POSTGRES_SECONDS = Histogram(
    "onsale_postgres_operation_duration_seconds",
    "Time of one Postgres operation (a repository function: its transaction), by name",
    ["operation"],
    buckets=(*FAST_BUCKETS, 2.5, 5.0),
)

# ------------------------------------------------------------- tickets/

DOOR_SCANS = Counter(
    "onsale_door_scans_total",
    "Tickets scanned at the door, by event, gate and result",
    ["event_id", "gate", "result"],
)
MAIL_SENT = Counter(
    "onsale_mail_messages_total",
    "Outbox messages handled, by kind and outcome (sent, failed, skipped)",
    ["kind", "outcome"],
)
# Read from Postgres by every worker pass (any process's pass tells the truth
# of the one table: the largest is shown).
MAIL_BACKLOG = Gauge(
    "onsale_mail_outbox_pending_messages",
    "Outbox messages not sent yet",
    multiprocess_mode="max",
)
MAIL_OLDEST_AGE = Gauge(
    "onsale_mail_outbox_oldest_age_seconds",
    "Age of the oldest outbox message not sent yet (0: none waiting)",
    multiprocess_mode="max",
)
MAIL_PASS_TIMESTAMP = Gauge(
    "onsale_mail_worker_last_pass_timestamp_seconds",
    "When an outbox worker last looked at the outbox (unix seconds)",
    multiprocess_mode="max",
)
SCAN_RESULTS: Final = ("admitted", "already_admitted", "invalid", "refunded", "wrong_event")
MAIL_OUTCOMES: Final = ("sent", "failed", "skipped")

# Outcomes that count as checkout errors (the alert's ratio): the system failed
# the fan. A declined card, an expired hold or a bad request are the fan's lot.
CHECKOUT_ERROR_OUTCOMES: Final = ("unavailable", "internal_error", "seats_unavailable")
# Every kind of repair the reconciler makes (see checkout/reconciler.py).
REPAIR_KINDS: Final = (
    "inventory_rebuilt",
    "queue_configured",
    "commit_sold_replayed",
    "refund_replayed",
    "payment_voided",
    "payment_captured",
    "stale_claim_dropped",
)


def error_codes() -> list[str]:
    """Every code an error answer may carry (a bounded label set)."""
    found: set[str] = set()
    todo: list[type[OnsaleError]] = [OnsaleError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(found | {"method_not_allowed", "http_error", "unknown"})


def _zeros() -> None:
    """Create the series alerts and rates read, at 0: a series that appears
    with its first increment makes rate() and increase() miss that increment."""
    for kind in REPAIR_KINDS:
        RECONCILER_REPAIRS.labels(kind)
    for outcome in ("ok", "payment_declined", *CHECKOUT_ERROR_OUTCOMES):
        CHECKOUT_SECONDS.labels(outcome)
    HOLD_SECONDS.labels("ok")
    for outcome in MAIL_OUTCOMES:
        MAIL_SENT.labels("order_tickets", outcome)
    for code in error_codes():
        HTTP_ERRORS.labels(code)


_zeros()


# --------------------------------------------------------- per-event figures


@dataclass(frozen=True)
class Figure:
    """A metric the collector builds at scrape time (not a live object)."""

    kind: str  # "gauge" | "counter" (exposed with the _total suffix)
    help: str
    labels: tuple[str, ...] = ("event_id",)


EVENT_FIGURES: Final = {
    "onsale_event_sale_open": Figure("gauge", "1 while the event's online sale is open, else 0"),
    "onsale_queue_waiting_fans": Figure("gauge", "Fans in the queue not admitted yet"),
    "onsale_queue_prequeue_fans": Figure("gauge", "Fans in the pre-queue, waiting for the draw"),
    "onsale_queue_admitted_fans": Figure("counter", "Fans admitted to shop so far"),
    "onsale_queue_abandoned_fans": Figure("counter", "Fans skipped at admission for having left"),
    "onsale_queue_active_shoppers": Figure("gauge", "Admitted fans whose shopping session is live"),
    "onsale_queue_holding_shoppers": Figure("gauge", "Shoppers who hold places right now"),
    "onsale_queue_max_active_shoppers": Figure("gauge", "Configured cap on active shoppers"),
    "onsale_queue_configured_rate_fans_per_minute": Figure("gauge", "Configured admission rate"),
    "onsale_queue_parked_shoppers": Figure(
        "counter", "Admitted shoppers parked as gone so far (unseen, holding nothing)"
    ),
    "onsale_queue_stall_seconds": Figure(
        "counter",
        "Time the queue stalled: places free, fans waiting, nobody admittable (slots or stock)",
    ),
    "onsale_queue_current_stall_seconds": Figure(
        "gauge", "How long the stall under way has lasted (0: the queue moves)"
    ),
    "onsale_queue_longest_stall_seconds": Figure("gauge", "The longest stall of the sale so far"),
    "onsale_inventory_capacity_places": Figure("gauge", "Places on sale (seats and GA capacity)"),
    "onsale_inventory_held_places": Figure("gauge", "Places held, in Redis"),
    "onsale_inventory_sold_places": Figure("gauge", "Places sold, in Redis"),
    "onsale_checkout_live_tickets": Figure("gauge", "Live tickets in Postgres (the truth of sold)"),
    "onsale_checkout_orders": Figure(
        "gauge", "Orders in Postgres, by status (paid, refunded)", ("event_id", "status")
    ),
    "onsale_checkout_revenue_cents": Figure(
        "gauge", "Total of the paid orders, by currency", ("event_id", "currency")
    ),
    "onsale_inventory_drift_places": Figure(
        "gauge", "Places sold in Redis minus live tickets in Postgres (0 when in line)"
    ),
    "onsale_inventory_oversold_places": Figure(
        "gauge", "Live tickets beyond a seat or a section's capacity, in Postgres: must be 0"
    ),
}
COLLECTOR_FIGURES: Final = {
    "onsale_backend_up": Figure(
        "gauge", "1 if the backend answered the last collection, else 0", ("backend",)
    ),
    "onsale_collector_duration_seconds": Figure("gauge", "Time of the last collection", ()),
    "onsale_collector_live_events": Figure(
        "gauge", "Events whose sale is live (pre-queue opened, not closed)", ()
    ),
}
