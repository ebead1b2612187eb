"""Reading this process's metrics in tests (single-process mode)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def value(name: str, **labels: str) -> float:
    """The current value of one sample (0 if it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Samples read before and after: ``delta.of(name, **labels)``."""

    def __init__(self) -> None:
        self._before = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for m in REGISTRY.collect()
            for s in m.samples
        }

    def of(self, name: str, **labels: str) -> float:
        before = self._before.get((name, tuple(sorted(labels.items()))), 0.0)
        return value(name, **labels) - before
