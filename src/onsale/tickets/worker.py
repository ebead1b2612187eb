"""The outbox's sender (I12): takes due messages one at a time (outbox.py's
claim: several processes never take the same row), renders them (mail.py),
hands them to the mail server, and marks them sent in the transaction that
held them. A mail server that is down gets the message again later, after a
delay that doubles per attempt up to a cap: nothing is lost, and a message
the server took is never sent again (unless resent on purpose)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from onsale.monitoring import metrics
from onsale.tickets import mail, outbox
from onsale.tickets.cancelled_mail import payment_cancelled
from onsale.tickets.mail import MailContext
from onsale.tickets.smtp import MailError

# Every kind of message the worker sends, and the template that renders it.
TEMPLATES = {**mail.TEMPLATES, outbox.PAYMENT_CANCELLED: payment_cancelled}

log = logging.getLogger(__name__)


class Sender(Protocol):
    @property
    def configured(self) -> bool: ...

    async def send(self, message: EmailMessage) -> None: ...


def retry_delay(attempts: int, first: float, cap: float) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones (pure)."""
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), cap))


@dataclass
class MailWorker:
    ctx: MailContext
    sender: Sender
    first_retry_seconds: float = 10.0
    max_retry_seconds: float = 600.0
    # Messages one pass sends at most, so that a pass ends and the gauges move.
    batch: int = 50
    # Off only in the negative control of I12: rows claimed without a lock.
    lock_rows: bool = True

    async def run_once(self) -> int:
        """Send what is due; the number of messages handed to the server.
        Without a mail server (ONSALE_SMTP_URL unset) the rows wait, untouched."""
        sent = 0
        for _ in range(self.batch if self.sender.configured else 0):
            async with outbox.claim_due(self.ctx.engine, lock=self.lock_rows) as claim:
                if claim is None:
                    break
                sent += await self._handle(claim)
        await self._measure()
        return sent

    async def _handle(self, claim: outbox.Claim) -> int:
        msg = claim.message
        template = TEMPLATES.get(msg.kind)
        try:
            if template is None:
                raise MailError(f"no template for {msg.kind!r}")
            email = await template(self.ctx, msg)
            if email is None:  # nothing to send any more (refunded, erased)
                await claim.sent()
                metrics.MAIL_SENT.labels(msg.kind, "skipped").inc()
                return 0
            await self.sender.send(email)
        except MailError as exc:
            delay = retry_delay(msg.attempts + 1, self.first_retry_seconds, self.max_retry_seconds)
            await claim.failed(str(exc), delay)
            metrics.MAIL_SENT.labels(msg.kind, "failed").inc()
            # The outbox id only: never the address.
            log.warning(
                "mail not sent, retried in %ss: %s",
                delay.total_seconds(),
                exc,
                extra={"outbox_id": msg.id},
            )
            return 0
        await claim.sent()
        metrics.MAIL_SENT.labels(msg.kind, "sent").inc()
        return 1

    async def _measure(self) -> None:
        backlog = await outbox.backlog(self.ctx.engine)
        metrics.MAIL_BACKLOG.set(backlog.pending)
        oldest = backlog.oldest_pending_at
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        metrics.MAIL_OLDEST_AGE.set(max(age, 0.0))
        metrics.MAIL_PASS_TIMESTAMP.set(time.time())

    async def run(self, interval: float) -> None:
        """Forever: a pass, then a pause when nothing was due."""
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail worker pass failed")
                busy = 0
            if not busy:
                await asyncio.sleep(interval)
