"""Timing helpers for the hot paths: a context manager that observes a
histogram (optionally by outcome), and a decorator for Postgres operations.

Each costs two ``perf_counter`` calls and one observation; label children are
looked up once where that is possible.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar

from prometheus_client import Histogram
from prometheus_client.metrics import MetricWrapperBase

from onsale import db
from onsale import redis as redis_conn
from onsale.errors import OnsaleError
from onsale.monitoring import metrics

P = ParamSpec("P")
R = TypeVar("R")


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


# Label children by (metric, label values): prometheus-client's labels() takes
# a lock and builds a key on every call; a dict lookup is ten times cheaper.
# The label values are bounded sets, so is this cache.
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: MetricWrapperBase, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once."""
    key = (id(metric), values)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values)
    return found


def outcome_of(exc: BaseException) -> str:
    """The outcome label of a failure: its error code, ``unavailable`` for a
    backend that is down, ``cancelled`` for a caller that went away, else
    ``internal_error`` (a bug)."""
    if isinstance(exc, OnsaleError):
        return exc.code
    if isinstance(exc, redis_conn.UNAVAILABLE_ERRORS) or db.unavailable(exc):
        return "unavailable"
    if not isinstance(exc, Exception):
        return "cancelled"
    return "internal_error"


class timed:
    """Observe the time spent in the block on ``observer`` (a histogram child)."""

    __slots__ = ("_observer", "_started")

    def __init__(self, observer: Observer) -> None:
        self._observer = observer
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._observer.observe(time.perf_counter() - self._started)


class Outcome:
    """Observe the time spent in the block on ``histogram`` labelled by outcome:
    ``ok`` unless the block sets :attr:`outcome` or raises (then the outcome
    of the exception, see :func:`outcome_of`)."""

    __slots__ = ("_histogram", "_started", "outcome")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started = 0.0
        self.outcome = "ok"

    def __enter__(self) -> Outcome:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.outcome = outcome_of(exc)
        child(self._histogram, self.outcome).observe(time.perf_counter() - self._started)


def postgres(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Time a repository function (one Postgres transaction or read) under its
    own name in ``onsale_postgres_operation_duration_seconds``."""
    child = metrics.POSTGRES_SECONDS.labels(fn.__name__)

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            child.observe(time.perf_counter() - started)

    return wrapper
