"""Payment providers behind one small interface: authorize, capture, void, refund
(Stripe's is ``stripe_provider``).

Only the ``test`` provider ships: it declines card 4000000000000002 and accepts
any other Luhn-valid number. It keeps a ledger of what it was asked, keyed by
the idempotency key, like a real provider would: authorizing twice with the
same key returns the first authorization and charges once (I3). Tests read
that ledger (a recording fake, not a mock).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Protocol

DECLINED_CARD = "4000000000000002"


class PaymentError(Exception):
    """The provider could not be reached or refused the operation itself."""


@dataclass(frozen=True)
class Authorization:
    ref: str
    approved: bool
    decline_reason: str = ""


class PaymentProvider(Protocol):
    name: str

    async def authorize(
        self, key: str, amount_cents: int, currency: str, card_number: str
    ) -> Authorization: ...

    # ``account``: the venue whose own provider account took the payment
    # (Stripe: each venue's keys); "" where the provider has one account.
    async def capture(self, ref: str, *, account: str = "") -> None: ...

    async def void(self, ref: str, *, account: str = "") -> None: ...

    async def refund(self, ref: str, amount_cents: int, *, account: str = "") -> None: ...


@dataclass
class Charge:
    ref: str
    key: str
    amount_cents: int
    currency: str
    status: str  # authorized | captured | voided | refunded | declined


@dataclass
class TestProvider:
    """The ``test`` provider, with its ledger of charges in memory (one per
    process: a real provider keeps one ledger for everyone)."""

    __test__ = False  # not a pytest test class, whatever its name says

    name: str = "test"
    latency_seconds: float = 0.0
    charges: dict[str, Charge] = field(default_factory=dict)  # by ref
    _by_key: dict[str, str] = field(default_factory=dict)

    async def authorize(
        self, key: str, amount_cents: int, currency: str, card_number: str
    ) -> Authorization:
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        if key in self._by_key:
            charge = self.charges[self._by_key[key]]
            return Authorization(
                charge.ref,
                charge.status != "declined",
                "card_declined" if charge.status == "declined" else "",
            )
        ref = f"test_{secrets.token_hex(8)}"
        declined = card_number == DECLINED_CARD
        self.charges[ref] = Charge(
            ref, key, amount_cents, currency, "declined" if declined else "authorized"
        )
        self._by_key[key] = ref
        return Authorization(ref, not declined, "card_declined" if declined else "")

    def _move(self, ref: str, frm: tuple[str, ...], to: str) -> None:
        charge = self.charges.get(ref)
        if charge is None:
            if not ref.startswith("test_"):
                raise PaymentError(f"unknown charge {ref}")
            # Authorized by another process (each keeps its own ledger): the
            # test provider takes its word for it, as the real one would know it.
            self.charges[ref] = Charge(ref, "", 0, "", to)
            return
        if charge.status == to:
            return  # already done: every operation is safe to repeat
        if charge.status not in frm:
            raise PaymentError(f"cannot move a {charge.status} charge to {to}")
        charge.status = to

    async def capture(self, ref: str, *, account: str = "") -> None:
        self._move(ref, ("authorized",), "captured")

    async def void(self, ref: str, *, account: str = "") -> None:
        self._move(ref, ("authorized",), "voided")

    async def refund(self, ref: str, amount_cents: int, *, account: str = "") -> None:
        self._move(ref, ("captured",), "refunded")

    def captured_total(self) -> int:
        return sum(c.amount_cents for c in self.charges.values() if c.status == "captured")
