"""One process's connections, services and background tasks, owned by the
application's lifespan: started once, stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db, secretbox, tokens
from onsale import redis as redis_conn
from onsale.admin.access import staff_scanner
from onsale.admin.buyer_service import BuyerService
from onsale.admin.consent import ConsentLinks
from onsale.admin.retention import RetentionJob
from onsale.admin.service import VenueService
from onsale.checkout.orders import OrderBook
from onsale.checkout.policy import order_token_expiry
from onsale.checkout.reconciler import Reconciler
from onsale.checkout.service import CheckoutService
from onsale.checkout.stripe_checkout import StripeCheckout
from onsale.embedded import EmbeddedServers, start_embedded
from onsale.events.catalog import EventCatalog
from onsale.events.repo import live_now
from onsale.http import classify
from onsale.inventory.service import InventoryService
from onsale.inventory.store import InventoryStore
from onsale.monitoring.collector import EventCollector, monitoring_engine
from onsale.payments.accounts import AccountStore
from onsale.payments.providers import PaymentProvider, TestProvider
from onsale.payments.stripe_gateway import StripeGateway
from onsale.payments.stripe_provider import StripeProvider
from onsale.queue.fanout import FanOut
from onsale.queue.guard import CHALLENGE_PURPOSE, Guard
from onsale.queue.repo import create_draw
from onsale.queue.service import QueueService
from onsale.queue.store import QueueStore
from onsale.recovery import Recovery
from onsale.settings import Settings
from onsale.tickets.door import DoorService
from onsale.tickets.issuer import TicketIssuer
from onsale.tickets.mail import MailContext
from onsale.tickets.smtp import SmtpSender
from onsale.tickets.worker import MailWorker

log = logging.getLogger(__name__)


def with_backends(settings: Settings) -> tuple[Settings, EmbeddedServers | None]:
    """Settings whose URLs name running servers: embedded ones are started for
    what the environment leaves unset."""
    if settings.redis_url and settings.database_url:
        return settings, None
    servers = start_embedded(
        settings.data_dir, redis=not settings.redis_url, postgres=not settings.database_url
    )
    return settings.with_overrides(
        redis_url=settings.redis_url or servers.redis_url,
        database_url=settings.database_url or servers.database_url,
    ), servers


def payment_providers(
    settings: Settings, stripe: StripeProvider | None = None
) -> dict[str, PaymentProvider]:
    """The providers a checkout may name. The ``test`` one (fake cards) only
    where ``ONSALE_TEST_PAYMENTS`` allows it (never by default in production);
    Stripe always (each venue connects its own account); a provider not in
    here is refused as a ``payment.provider`` field error."""
    providers: dict[str, PaymentProvider] = {}
    if settings.test_payments:
        providers["test"] = TestProvider()
    if stripe is not None:
        providers[stripe.name] = stripe
    return providers


def mail_worker(settings: Settings, engine: AsyncEngine, signer: tokens.Signer) -> MailWorker:
    """The outbox's sender; its links carry order tokens signed as checkout
    signs them (lifetime: ``checkout.policy.order_token_expiry``)."""

    def order_token(event_id: str, order_id: str, starts_at: datetime) -> str:
        expires = order_token_expiry(starts_at, datetime.now(UTC))
        return signer.sign(tokens.Claims("order", event_id, order_id, int(expires.timestamp())))

    ctx = MailContext(engine, settings.mail_from, settings.public_url, order_token)
    return MailWorker(
        ctx,
        SmtpSender(settings.smtp_url),
        first_retry_seconds=settings.mail_retry_seconds,
        max_retry_seconds=settings.mail_retry_max_seconds,
    )


@dataclass
class Runtime:
    settings: Settings
    redis: redis_conn.AnyRedis
    engine: AsyncEngine
    signer: tokens.Signer
    events: EventCatalog
    venues: VenueService
    recovery: Recovery
    inventory: InventoryService
    queue: QueueService
    checkout: CheckoutService
    orders: OrderBook
    reconciler: Reconciler
    providers: dict[str, PaymentProvider]
    payment_accounts: AccountStore
    fanout: FanOut
    guard: Guard
    collector: EventCollector
    # The buyers' data: export, erasure, consents; and the retention job.
    buyers: BuyerService
    retention: RetentionJob
    issuer: TicketIssuer
    mail: MailWorker
    door: DoorService
    embedded: EmbeddedServers | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Connect (starting embedded servers if no URLs are set), migrate,
        build the services, and start the background tasks."""
        settings, embedded = await asyncio.to_thread(with_backends, settings)
        assert settings.redis_url and settings.database_url
        try:
            if migrate and settings.migrate_on_start:
                await db.upgrade(settings.database_url)
            engine = db.create_engine(settings.database_url, pool_size=settings.db_pool_size)
            warm = min(settings.db_pool_warm, settings.db_pool_size)
            await db.wait_ready(engine, warm_up=warm)
            client = await redis_conn.connect(settings.redis_url)
        except BaseException:
            if embedded:
                embedded.stop()
            raise
        runtime = cls.build(settings, client, engine)
        runtime.embedded = embedded
        if settings.background_tasks:
            runtime.start_tasks()
        return runtime

    @classmethod
    def build(cls, settings: Settings, client: redis_conn.AnyRedis, engine: AsyncEngine) -> Runtime:
        signer = tokens.Signer(settings.secret_key)
        accounts = AccountStore(engine, secretbox.SecretBox(signer.derive(secretbox.PURPOSE)))
        stripe = StripeProvider(StripeGateway(settings.stripe_api_base), accounts)
        providers = payment_providers(settings, stripe)
        inventory_store = InventoryStore(client, settings.redis_prefix)
        queue_store = QueueStore(client, settings.redis_prefix)
        mon_engine = monitoring_engine(settings.database_url) if settings.database_url else engine
        recovery = Recovery(engine, inventory_store, queue_store)
        events = EventCatalog(engine, on_insert=create_draw, on_saved=recovery.prepare_redis)
        queue = QueueService(
            queue_store,
            events,
            signer,
            engine=engine,
            recovery=recovery,
            reclaim=inventory_store.reclaim,
        )
        issuer = TicketIssuer.build(engine, signer)
        checkout = CheckoutService(
            engine, inventory_store, providers, settings, signer, issuer=issuer
        )
        checkout.stripe = StripeCheckout(checkout, stripe, events)
        venues = VenueService(engine)
        return cls(
            settings=settings,
            redis=client,
            engine=engine,
            signer=signer,
            events=events,
            venues=venues,
            recovery=recovery,
            inventory=InventoryService(
                inventory_store,
                recovery.prepare_redis,
                seat_map_seconds=settings.seat_map_cache_seconds,
            ),
            queue=queue,
            checkout=checkout,
            orders=OrderBook(engine, checkout),
            reconciler=Reconciler(
                events,
                engine,
                recovery.repair,
                providers,
                timedelta(seconds=settings.orphan_payment_seconds),
                timedelta(seconds=settings.reconcile_settle_seconds),
                stripe=checkout.stripe,
            ),
            providers=providers,
            payment_accounts=accounts,
            fanout=FanOut(
                queue_store.snapshot, queue.admitted_message, queue_store.numbers, queue.meters
            ),
            guard=Guard(
                client,
                settings.redis_prefix,
                signer.derive(CHALLENGE_PURPOSE),
                settings.join_rate_per_minute,
            ),
            collector=EventCollector(
                mon_engine, client, settings.redis_prefix, live_events=live_now(mon_engine)
            ),
            buyers=BuyerService(engine, ConsentLinks(signer)),
            retention=RetentionJob(engine),
            issuer=issuer,
            mail=mail_worker(settings, engine, signer),
            door=DoorService(
                engine, issuer.keys, staff=functools.partial(staff_scanner, venues.keys)
            ),
        )

    def start_tasks(self) -> None:
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.admission_interval_seconds, self.admit_all, "admission")
            ),
            asyncio.create_task(
                self._every(self.settings.reconcile_interval_seconds, self.reconcile, "reconciler")
            ),
            asyncio.create_task(self.fanout.run(self.settings.push_interval_seconds)),
            asyncio.create_task(
                self._every(self.retention.interval_seconds, self.retention.step, "retention")
            ),
            asyncio.create_task(self.mail.run(self.settings.mail_interval_seconds)),
        ]

    async def admit_all(self) -> None:
        """One admission step for every event on sale (any process may run it)."""
        for event in await self.events.live_events():
            await self.queue.admit(event)

    async def reconcile(self) -> None:
        await self.reconciler.run_once()

    async def _every(self, seconds: float, step: Callable[[], Awaitable[None]], name: str) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if classify(exc) is None:
                    log.exception("%s step failed", name)
                else:
                    log.warning("%s step skipped: %s", name, exc)
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.redis.aclose()
        stripe = self.providers.get("stripe")
        if isinstance(stripe, StripeProvider):
            await stripe.gateway.aclose()
        await self.engine.dispose()
        if self.embedded:
            await asyncio.to_thread(self.embedded.stop)
