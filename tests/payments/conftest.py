"""Stripe tests run against a real localstripe process (tests/localstripe.py),
with the runtime's Stripe API base pointed at it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from onsale.payments.stripe_provider import StripeProvider
from onsale.runtime import Runtime
from onsale.settings import Settings
from tests.localstripe import LocalStripe, running


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    with running() as server:
        yield server


@pytest.fixture(scope="session")
def settings(settings: Settings, localstripe: LocalStripe) -> Settings:
    return dataclasses.replace(
        settings, stripe_api_base=localstripe.url, stripe_js_url=localstripe.js_url
    )


@pytest_asyncio.fixture(loop_scope="session")
async def runtime(runtime: Runtime) -> AsyncIterator[Runtime]:
    """The runtime, its Stripe client's connections closed after the test."""
    yield runtime
    stripe = runtime.providers["stripe"]
    assert isinstance(stripe, StripeProvider)
    await stripe.gateway.aclose()
