"""``GET /metrics``: this process's metrics (every worker's, summed, in
multiprocess mode), then the per-event figures read once for this scrape."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from onsale.monitoring import multiprocess
from onsale.monitoring.collector import EventCollector
from onsale.monitoring.figures import Static, families

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def process_registry() -> CollectorRegistry:
    """The default registry, or in multiprocess mode one that sums the files
    of every worker (those of dead workers' live gauges pruned first)."""
    path = multiprocess.directory()
    if path is None:
        return REGISTRY
    multiprocess.prune_dead(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


async def render(collector: EventCollector | None) -> bytes:
    """The text exposition of one scrape."""
    text = generate_latest(process_registry())
    if collector is not None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Static(families(await collector.read())))
        text += generate_latest(registry)
    return text
