"""Run a coroutine at once, and give it a task only if it has to wait.

A websocket send almost always finishes without waiting (the socket's buffer
has room), so the push pass runs it to the end on the spot instead of waking
a task per fan per tick. Only a send that must wait (the buffer is full: a
slow client) is handed to a task that finishes it. Python 3.12's
``asyncio.eager_task_factory`` does the same for every task; onsale runs on
3.11 and wants it for this one call only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` until it finishes (None) or first waits (the task that
    finishes it). An exception raised before the first wait propagates here."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    return asyncio.get_running_loop().create_task(_finish(coro, waiting_on))


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive ``coro`` from where ``start`` left it, as its task would have:
    wait for what it waits on, then resume it."""
    try:
        while True:
            if waiting_on is None:  # a bare yield (asyncio.sleep(0)): just let others run
                await asyncio.sleep(0)
            else:
                # The coroutine reads the outcome itself when resumed; an error
                # or a cancellation of the awaited future reaches it that way.
                await asyncio.wait([waiting_on])
            try:
                waiting_on = coro.send(None)
            except StopIteration:
                return
    except BaseException:
        # Cancelled (a fan cut off) or failed: close the coroutine, which runs
        # its cleanup (the awaited future's waiter is removed), then go on up.
        coro.close()
        raise
