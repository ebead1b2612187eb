"""The ``onsale`` command: serve, demo, db upgrade, verify."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import uvicorn

from onsale import db, serving, settings
from onsale.embedded import EmbeddedServers
from onsale.embedded.mailsink import MailSink, start_sink
from onsale.monitoring import logs, multiprocess
from onsale.runtime import Runtime, with_backends

log = logging.getLogger("onsale")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onsale", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    demo = sub.add_parser("demo", help="seed a demo event on embedded backends and serve it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--opens-in", type=int, help="seconds until the sale opens (60; 5 with --crowd)"
    )
    demo.add_argument(
        "--crowd",
        type=int,
        default=0,
        metavar="N",
        help="send N simulated fans, show their progress, check the invariants and exit",
    )
    demo.add_argument(
        "--stripe",
        action="store_true",
        help="pay through Stripe's API as a localstripe started here plays it",
    )
    dbp = sub.add_parser("db", help="database tasks")
    dbp.add_argument("action", choices=["upgrade"])
    verify = sub.add_parser("verify", help="check an event's invariants")
    verify.add_argument("--event", required=True)
    check = sub.add_parser("verify-draw", help="recompute an event's pre-queue draw")
    check.add_argument("--event", required=True)
    check.add_argument(
        "--url", help="ask a running onsale (GET /api/events/ID/draw) instead of its database"
    )
    return parser


def _sigterm_exits() -> None:
    # atexit does not run on SIGTERM: make it a normal exit so that embedded
    # servers are stopped cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _resolve(cfg: settings.Settings) -> tuple[settings.Settings, EmbeddedServers | None]:
    """Start embedded servers for unset URLs, and share the URLs and a signing
    key with worker processes through the environment."""
    cfg, servers = with_backends(cfg)
    assert cfg.redis_url and cfg.database_url
    os.environ["ONSALE_REDIS_URL"] = cfg.redis_url
    os.environ["ONSALE_DATABASE_URL"] = cfg.database_url
    if not os.environ.get("ONSALE_SECRET_KEY"):
        os.environ["ONSALE_SECRET_KEY"] = secrets.token_urlsafe(32)
    return settings.from_env(), servers


def serve(args: argparse.Namespace) -> int:
    multiprocess.prepare(settings.from_env().data_dir, workers=args.workers)
    cfg, servers = _resolve(settings.from_env())
    try:
        assert cfg.database_url
        if cfg.migrate_on_start:
            db.upgrade_sync(cfg.database_url)
        uvicorn.run(
            "onsale.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=cfg.log_level.lower(),
            **serving.uvicorn_options(cfg),
        )
    finally:
        if servers:
            servers.stop()
    return 0


def _print_demo(
    base: str, venue: dict[str, str], event_id: str, admin_token: str, mail: bool
) -> None:
    lines = [
        "",
        "onsale demo is running",
        f"  fan page:         {base}/e/{event_id}   (open it in two browsers: two fans)",
        f"  venue page:       {base}/admin   (sign in with the venue API key below)",
        f"  event (public):   {base}/api/events/{event_id}",
        f"  seat map:         {base}/api/events/{event_id}/seats",
        f"  join the queue:   curl -X POST {base}/api/events/{event_id}/queue",
        f"  admin stats:      curl -H 'Authorization: Bearer {venue['api_key']}' "
        f"{base}/api/admin/events/{event_id}/stats",
        f"  venue API key:    {venue['api_key']}",
        f"  platform token:   {admin_token}",
        f"  API description:  {base}/openapi.json",
        f"  metrics:          {base}/metrics",
        f"  door page:        {base}/door   (door keys: the venue page, event, Door)",
        (
            f"  e-mails sent:     {base}/dev/mail   (caught by the demo's mail sink)"
            if mail
            else "  e-mails:          kept in the outbox (no ONSALE_SMTP_URL, no aiosmtpd)"
        ),
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


async def _demo(args: argparse.Namespace) -> int:
    if not os.environ.get("ONSALE_ADMIN_TOKEN"):
        os.environ["ONSALE_ADMIN_TOKEN"] = secrets.token_urlsafe(24)
    cfg = settings.from_env()
    if args.crowd:  # the whole crowd comes from this one address
        cfg = cfg.with_overrides(join_rate_per_minute=0)
    fake_stripe = None
    if args.stripe:
        from onsale.demo_stripe import start_localstripe

        fake_stripe = await asyncio.to_thread(start_localstripe)
        cfg = cfg.with_overrides(stripe_api_base=fake_stripe.url, stripe_js_url=fake_stripe.js_url)
    base = f"http://{args.host}:{args.port}"
    sink = None if cfg.smtp_url else start_sink()
    if sink is not None:  # the tickets' e-mails land on /dev/mail
        cfg = cfg.with_overrides(
            smtp_url=settings.Secret(sink.url), public_url=base, mail_retry_seconds=2.0
        )
    try:
        return await _demo_serve(args, cfg, base, sink, stripe=fake_stripe is not None)
    finally:
        if sink is not None:
            sink.stop()
        if fake_stripe is not None:
            fake_stripe.stop()


async def _demo_serve(
    args: argparse.Namespace,
    cfg: settings.Settings,
    base: str,
    sink: MailSink | None,
    *,
    stripe: bool,
) -> int:
    from onsale.app import create_app
    from onsale.demo import seed

    runtime = await Runtime.start(cfg)
    opens_in = args.opens_in if args.opens_in is not None else (5 if args.crowd else 60)
    try:
        venue, event = await seed(
            runtime.venues,
            runtime.events,
            opens_in=timedelta(seconds=opens_in),
            busy=bool(args.crowd),
        )
        if stripe:
            from onsale.demo_stripe import connect_demo_account

            await connect_demo_account(runtime.payment_accounts, venue["id"])
            print(f"  payments:         Stripe, as localstripe plays it at {cfg.stripe_api_base}")
        from onsale.web import devmail

        app = create_app(cfg, runtime=runtime)
        if sink is not None:
            app.router.routes.extend(devmail.routes(sink))
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            **serving.uvicorn_options(cfg),
        )
        server = uvicorn.Server(config)
        _print_demo(base, venue, event.id, cfg.admin_token.reveal(), sink is not None)
        if not args.crowd:
            await server.serve()
            return 0
        return await _crowd(server, runtime, base, venue["api_key"], event.id, args.crowd)
    finally:
        await runtime.stop()


async def _crowd(
    server: uvicorn.Server, runtime: Runtime, base: str, venue_key: str, event_id: str, fans: int
) -> int:
    """Serve while the crowd buys, then check the invariants (exit 1 if broken)."""
    from onsale import crowd
    from onsale.verify import verify_event

    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # bounded: uvicorn has no "started" event to await
            if server.started:
                break
            await asyncio.sleep(0.05)
        tally = await crowd.run(base, event_id, venue_key, fans)
        await asyncio.sleep(1)
        report = await verify_event(runtime.engine, runtime.inventory.store, event_id)
    finally:
        server.should_exit = True
        await serving
    print(json.dumps({"outcomes": dict(tally.outcomes), **report.as_json()}, indent=2))
    print("VERDICT:", "PASS" if report.ok else "FAIL")
    return 0 if report.ok else 1


async def _verify(event_id: str) -> int:
    from onsale.verify import verify_event

    runtime = await Runtime.start(settings.from_env().with_overrides(background_tasks=False))
    try:
        report = await verify_event(runtime.engine, runtime.inventory.store, event_id)
    finally:
        await runtime.stop()
    print(json.dumps(report.as_json(), indent=2))
    return 0 if report.ok else 1


async def _draw_record(event_id: str) -> dict[str, Any]:
    from onsale.events.policy import Event

    runtime = await Runtime.start(settings.from_env().with_overrides(background_tasks=False))
    try:
        event: Event = await runtime.events.get(event_id)
        return await runtime.queue.reveal(event)
    finally:
        await runtime.stop()


def _verify_draw(event_id: str, url: str | None) -> int:
    """Recompute the draw from the revealed seed; exit 1 if it does not check."""
    import httpx

    from onsale.queue import draw

    if url:
        record: dict[str, Any] = httpx.get(f"{url}/api/events/{event_id}/draw", timeout=10).json()
    else:
        record = asyncio.run(_draw_record(event_id))
    if not record.get("drawn"):
        print(f"not drawn yet; commitment {record.get('commitment')}")
        return 1
    check = draw.verify(record["seed"], record["commitment"], record["entries"])
    print(("OK: " if check.ok else "FAILED: ") + check.reason)
    return 0 if check.ok else 1


def _db_upgrade() -> int:
    cfg, servers = with_backends(settings.from_env())
    try:
        assert cfg.database_url
        db.upgrade_sync(cfg.database_url)
        print("database schema is up to date")
    finally:
        if servers:
            servers.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = settings.from_env()
    except settings.SettingsError as exc:
        # One line, as argparse does for a bad argument: what is wrong, by name.
        print(f"onsale: {exc}", file=sys.stderr)
        return 2
    logs.configure(cfg.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    _sigterm_exits()
    commands: dict[str, Any] = {
        "serve": lambda: serve(args),
        "demo": lambda: asyncio.run(_demo(args)),
        "db": _db_upgrade,
        "verify": lambda: asyncio.run(_verify(args.event)),
        "verify-draw": lambda: _verify_draw(args.event, args.url),
    }
    try:
        return int(commands[args.command]())
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
