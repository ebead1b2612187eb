"""Every Prometheus metric of onsale, declared in one place.

Names are ``onsale_<area>_<thing>_<unit>``; labels never carry a user id, a
token or an e-mail address.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WS_CONNECTIONS = Gauge("onsale_ws_connections", "Websocket fans connected to this process")
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
QUEUE_ADMITTED = Counter(
    "onsale_queue_admitted_total", "Fans admitted by this process' admission steps"
)
QUEUE_SKIPPED_AWAY = Counter(
    "onsale_queue_skipped_away_total", "Fans skipped at admission for being away"
)
