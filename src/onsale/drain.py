"""Graceful drain: what a node does between SIGTERM and its exit.

Operators deploy a new version whenever they must, on-sales included. uvicorn's
own shutdown closes the listener and every websocket at once (close code
1012): all the node's fans reconnect in the same instant to the other nodes (a
wave), while the balancer, whose health check still saw the node ready, keeps
sending new connections to a closed port until its next check.

On SIGTERM a node instead:

1. answers 503 on ``/readyz`` (status "draining") and closes every new
   websocket at once with 1012: the balancer stops sending it traffic within
   its check interval;
2. after ``drain_wait_seconds`` (the balancer has noticed), tells its fans to
   reconnect (close 1012) in batches spread over ``drain_spread_seconds``,
   so the other nodes take them as a stream, not a wave (the fan page
   reconnects after a short jittered delay on 1012 and keeps its place: the
   queue token names it);
3. hands the signal back to uvicorn: the listener closes, requests in flight
   (checkouts) finish within what is left of ``drain_seconds`` (uvicorn's
   ``timeout_graceful_shutdown``), then the lifespan shutdown runs;
4. should anything still hold the process at ``drain_seconds`` after the
   signal, a timer thread ends it (exit status 70, a log line).

Why in the application and not a uvicorn ``Server`` subclass: with
``--workers N`` uvicorn's supervisor builds each worker's ``Server`` itself.
The application's lifespan runs in every worker, in its main thread, after
uvicorn installed its signal handlers: it wraps uvicorn's SIGTERM handler
there, and calls it once drained.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from onsale.queue.fanout import Fan, FanOut
from onsale.settings import Settings

log = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012  # RFC 6455: "the service is restarting"
# One batch of fans is told to reconnect every this many seconds.
BATCH_INTERVAL_SECONDS = 0.25
# Left, within the bound, for the lifespan shutdown (pools, tasks).
SHUTDOWN_MARGIN_SECONDS = 1.0
# The exit status of a process still there at the bound (see Drain.overdue).
EXIT_OVERDUE = 70

Fans = Callable[[], list[Fan]]


def batches(count: int, spread: float, interval: float = BATCH_INTERVAL_SECONDS) -> list[int]:
    """Sizes of the batches in which ``count`` fans are told to reconnect:
    one batch every ``interval`` seconds, the first at once and the last
    ``spread`` seconds later (fewer batches when there are fewer fans), as
    even as can be."""
    if count <= 0:
        return []
    slots = max(1, min(count, int(spread / interval) + 1))
    base, extra = divmod(count, slots)
    return [base + (1 if i < extra else 0) for i in range(slots)]


def graceful_timeout(settings: Settings) -> float | None:
    """uvicorn's ``timeout_graceful_shutdown``: what is left of the bound for
    requests in flight once the fans are told (None: no drain, no bound)."""
    if not settings.drain_seconds:
        return None
    left = (
        settings.drain_seconds
        - settings.drain_wait_seconds
        - settings.drain_spread_seconds
        - SHUTDOWN_MARGIN_SECONDS
    )
    return max(left, 0.5)


def connected_fans(fanout: FanOut) -> list[Fan]:
    return [fan for room in fanout.rooms.values() for fan in room.fans.values()]


class Drain:
    """One process's drain: its state (``draining``, read by ``/readyz`` and
    the websocket endpoint) and the steps it takes on SIGTERM."""

    def __init__(
        self,
        *,
        bound: float,
        wait: float,
        spread: float,
        interval: float = BATCH_INTERVAL_SECONDS,
        exit: Callable[[int], object] = os._exit,
    ) -> None:
        self.bound = bound
        self._exit = exit
        self.wait = wait
        self.spread = spread
        self.interval = interval
        self.draining = False
        self.begun_at: float | None = None
        self.told = 0  # fans told to reconnect
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, settings: Settings) -> Drain:
        return cls(
            bound=settings.drain_seconds,
            wait=settings.drain_wait_seconds,
            spread=settings.drain_spread_seconds,
        )

    @property
    def enabled(self) -> bool:
        return self.bound > 0

    def begin(self) -> None:
        """From now on ``/readyz`` says 503 and new websockets are turned away."""
        if not self.draining:
            self.draining, self.begun_at = True, time.monotonic()

    async def run(self, fans: Fans) -> None:
        """Begin, wait for the balancer, then tell the fans in batches."""
        self.begin()
        await asyncio.sleep(self.wait)
        plan = batches(len(fans()), self.spread, self.interval)
        for i, size in enumerate(plan):
            if i:
                await asyncio.sleep(self.interval)
            waiting = [fan for fan in fans() if not fan.closed]
            # The last batch takes whoever is left (a fan may have come back
            # on a socket accepted just before the drain began).
            chosen = waiting if i == len(plan) - 1 else waiting[:size]
            for fan in chosen:
                fan.restart()
            self.told += len(chosen)
        log.warning(
            "drained: %d fans told to reconnect in %d batches over %.1f s",
            self.told,
            len(plan),
            time.monotonic() - (self.begun_at or 0.0),
        )

    def install(self, fans: Fans, loop: asyncio.AbstractEventLoop) -> Callable[[], None] | None:
        """Wrap the process's SIGTERM handler (uvicorn's): the first SIGTERM
        drains, then calls it. Returns the undo, or None when there is nothing
        to wrap (no drain configured, not the main thread, no handler)."""
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return None
        hand_over: Callable[[int, FrameType | None], Any] = previous

        def start() -> None:
            self._task = loop.create_task(self._then(fans, hand_over))
            # A thread, not the loop: it fires even if the loop is stuck.
            timer = threading.Timer(self.bound, self.overdue)
            timer.daemon = True
            timer.start()

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: stop waiting
                hand_over(sig, frame)
                return
            self.begin()  # a bool: safe to set from a signal handler
            loop.call_soon_threadsafe(start)

        signal.signal(signal.SIGTERM, on_sigterm)

        def undo() -> None:
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, previous)

        return undo

    def overdue(self) -> None:
        """The bound is reached and the process is still there (a shutdown step
        that hangs): leave now, as the orchestrator's SIGKILL would, but with
        a line in the log and a status that says so."""
        log.error("drain: still running %.0f s after SIGTERM; exiting now", self.bound)
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(EXIT_OVERDUE)

    async def _then(self, fans: Fans, hand_over: Callable[[int, FrameType | None], Any]) -> None:
        try:
            # Bounded whatever happens: the telling must not eat the time left
            # for requests in flight.
            await asyncio.wait_for(self.run(fans), self.wait + self.spread + 1.0)
        except Exception:
            log.exception("drain step failed; shutting down now")
        finally:
            hand_over(signal.SIGTERM, None)
