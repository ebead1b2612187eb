"""Typed settings, read once from the environment at start-up.

Every ``ONSALE_*`` variable is read here and nowhere else; the resulting frozen
:class:`Settings` is passed explicitly to whatever needs it.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __bool__(self) -> bool:
        return bool(self._value)


class SettingsError(ValueError):
    """An ``ONSALE_*`` variable holds a value that cannot be used."""


ENVIRONMENTS = ("development", "production")
# A signing key shorter than HMAC-SHA256's output gives away strength; an
# admin token that short can be guessed by a patient crowd.
MIN_SECRET_KEY_BYTES = 32
MIN_ADMIN_TOKEN_CHARS = 32
STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_API_BASE = "https://api.stripe.com"


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    database_url: str | None = None
    secret_key: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(32)))
    admin_token: Secret = field(default_factory=lambda: Secret(""))
    data_dir: Path = Path(".onsale")
    # Prefix of every Redis key, so that several deployments (or the tests) can
    # share one Redis without seeing each other's keys.
    redis_prefix: str = "onsale"
    # Seconds a hold in checkout may outlive its TTL while the payment runs.
    checkout_grace_seconds: int = 120
    admission_interval_seconds: float = 1.0
    reconcile_interval_seconds: float = 5.0
    # An authorized payment with no order after this long is voided.
    orphan_payment_seconds: int = 120
    # The reconciler repairs paid orders at least this old (younger ones may
    # still be finishing their checkout).
    reconcile_settle_seconds: int = 10
    background_tasks: bool = True
    max_body_bytes: int = 64 * 1024
    # Joins one client (IP address) may make per minute, over all events; 0: off.
    join_rate_per_minute: int = 60
    # Seconds between two pushes to every connected fan.
    push_interval_seconds: float = 1.0
    # Seconds one reading of an event's seat states serves a process's seat
    # map requests (onsale.inventory.seatmap); 0: read at every request.
    seat_map_cache_seconds: float = 1.0
    log_level: str = "INFO"
    # ``production`` refuses weak secrets at start-up and turns the test
    # payment provider off (see :func:`production_problems`).
    environment: str = "development"
    # Whether checkouts may name the ``test`` provider (fake cards).
    test_payments: bool = True
    # ``GET /metrics`` wants ``Authorization: Bearer <this>`` when it is set.
    metrics_token: Secret = field(default_factory=lambda: Secret(""))
    # The proxies whose X-Forwarded-For names the client (addresses or CIDRs).
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    # Seconds a connection may take to send a request's head (slow clients
    # holding connections open otherwise cost a file descriptor each forever).
    header_timeout_seconds: float = 10.0
    # The Stripe.js the fan page loads; the pages' CSP lets its origin in.
    stripe_js_url: str = STRIPE_JS_URL
    # Where onsale calls Stripe's API (tests point it at a local Stripe double).
    stripe_api_base: str = STRIPE_API_BASE
    # Whether ``onsale serve`` brings the schema up to date at start. Off
    # behind PgBouncer in transaction mode: the migrations' session advisory
    # lock needs a direct connection (``onsale db upgrade`` runs them there).
    migrate_on_start: bool = True
    # Graceful drain on SIGTERM (onsale.drain): the bound from the signal to
    # the exit (0: no drain, uvicorn's plain shutdown), the seconds /readyz
    # says 503 before the first fan is told to reconnect (the balancer's
    # health check notices), and the seconds over which the fans are told.
    drain_seconds: float = 25.0
    drain_wait_seconds: float = 2.0
    drain_spread_seconds: float = 5.0
    # Where the tickets' e-mails go out: ``smtp://[user:pass@]host:port[?starttls=1]``
    # (a Secret: it may hold a password). Unset: the outbox keeps the messages
    # until it is set (nothing is lost).
    smtp_url: Secret = field(default_factory=lambda: Secret(""))
    mail_from: str = "tickets@onsale.invalid"
    # The address fans reach the site at, for the links in e-mails.
    public_url: str = "http://127.0.0.1:8000"
    # The outbox worker: seconds between two looks when idle, the first retry
    # delay (doubling per attempt) and its cap.
    mail_interval_seconds: float = 2.0
    mail_retry_seconds: float = 10.0
    mail_retry_max_seconds: float = 600.0
    # Postgres connections a worker keeps at most (onsale.db), and how many of
    # them it opens at start (the rest open as needed and are kept too).
    db_pool_size: int = 30
    db_pool_warm: int = 5

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value <= 0:
        raise SettingsError(f"{name} must be more than 0, got {env.get(name)!r}")
    return value


def _pool_size(env: Mapping[str, str]) -> int:
    value = _int(env, "ONSALE_DB_POOL_SIZE", 30)
    if not 1 <= value <= 500:
        raw = env.get("ONSALE_DB_POOL_SIZE")
        raise SettingsError(f"ONSALE_DB_POOL_SIZE must be 1-500, got {raw!r}")
    return value


def _pool_warm(env: Mapping[str, str]) -> int:
    # Few by default: every test server and chaos app opens them at once, on a
    # shared Postgres of 100 connections.
    value = _int(env, "ONSALE_DB_POOL_WARM", 5)
    if not 0 <= value <= 500:
        raw = env.get("ONSALE_DB_POOL_WARM")
        raise SettingsError(f"ONSALE_DB_POOL_WARM must be 0-500, got {raw!r}")
    return value


def _environment(env: Mapping[str, str]) -> str:
    raw = (env.get("ONSALE_ENV") or "development").strip().lower()
    if raw not in ENVIRONMENTS:
        # A typo ("prod") must not quietly mean "not production".
        raise SettingsError(f"ONSALE_ENV must be one of {', '.join(ENVIRONMENTS)}, got {raw!r}")
    return raw


def _networks(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated addresses or CIDRs. Unset: ``default``; set but empty:
    none (trust no proxy)."""
    raw = env.get(name)
    if raw is None:
        return default
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise SettingsError(f"{name} must list IP addresses or CIDRs, got {item!r}") from exc
    return items


def _smtp_url(env: Mapping[str, str]) -> str:
    raw = env.get("ONSALE_SMTP_URL") or ""
    if raw and not raw.startswith(("smtp://", "smtps://")):
        # Never the value: it may hold a password.
        raise SettingsError("ONSALE_SMTP_URL must start with smtp:// or smtps://")
    return raw


def production_problems(env: Mapping[str, str]) -> list[str]:
    """What a production start lacks, one phrase per variable (never a value)."""
    problems = []
    secret = (env.get("ONSALE_SECRET_KEY") or "").encode()
    if len(secret) < MIN_SECRET_KEY_BYTES:
        problems.append(
            f"ONSALE_SECRET_KEY (at least {MIN_SECRET_KEY_BYTES} bytes, "
            + (f"got {len(secret)})" if secret else "unset)")
        )
    admin = env.get("ONSALE_ADMIN_TOKEN") or ""
    if len(admin) < MIN_ADMIN_TOKEN_CHARS:
        problems.append(
            f"ONSALE_ADMIN_TOKEN (at least {MIN_ADMIN_TOKEN_CHARS} characters, "
            + (f"got {len(admin)})" if admin else "unset)")
        )
    if not env.get("ONSALE_METRICS_TOKEN"):
        problems.append("ONSALE_METRICS_TOKEN (unset)")
    return problems


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``ONSALE_*`` variables.

    Raises SettingsError on a malformed value, and with ``ONSALE_ENV=production``
    when a secret is missing or weak (the message names each variable). Outside
    production, without ``ONSALE_SECRET_KEY`` a random key is made, so tokens
    do not survive a restart: fine for the demo, not for several processes
    (each would sign differently).
    """
    env = os.environ if env is None else env
    defaults = Settings()
    environment = _environment(env)
    if environment == "production" and (problems := production_problems(env)):
        raise SettingsError("ONSALE_ENV=production needs " + "; ".join(problems))
    secret = env.get("ONSALE_SECRET_KEY") or ""
    drain = _drain(env)
    return Settings(
        redis_url=env.get("ONSALE_REDIS_URL") or None,
        database_url=env.get("ONSALE_DATABASE_URL") or None,
        secret_key=Secret(secret) if secret else defaults.secret_key,
        admin_token=Secret(env.get("ONSALE_ADMIN_TOKEN", "")),
        data_dir=Path(env.get("ONSALE_DATA_DIR") or ".onsale"),
        redis_prefix=env.get("ONSALE_REDIS_PREFIX") or "onsale",
        checkout_grace_seconds=_int(env, "ONSALE_CHECKOUT_GRACE_SECONDS", 120),
        admission_interval_seconds=_float(env, "ONSALE_ADMISSION_INTERVAL_SECONDS", 1.0),
        reconcile_interval_seconds=_float(env, "ONSALE_RECONCILE_INTERVAL_SECONDS", 5.0),
        orphan_payment_seconds=_int(env, "ONSALE_ORPHAN_PAYMENT_SECONDS", 120),
        reconcile_settle_seconds=_int(env, "ONSALE_RECONCILE_SETTLE_SECONDS", 10),
        background_tasks=_bool(env, "ONSALE_BACKGROUND_TASKS", True),
        join_rate_per_minute=_int(env, "ONSALE_JOIN_RATE_PER_MINUTE", 60),
        push_interval_seconds=_float(env, "ONSALE_PUSH_INTERVAL_SECONDS", 1.0),
        seat_map_cache_seconds=_float(env, "ONSALE_SEAT_MAP_CACHE_SECONDS", 1.0),
        log_level=env.get("ONSALE_LOG_LEVEL") or "INFO",
        environment=environment,
        test_payments=_bool(env, "ONSALE_TEST_PAYMENTS", environment != "production"),
        metrics_token=Secret(env.get("ONSALE_METRICS_TOKEN", "")),
        forwarded_allow_ips=_networks(
            env, "ONSALE_FORWARDED_ALLOW_IPS", defaults.forwarded_allow_ips
        ),
        header_timeout_seconds=_positive(env, "ONSALE_HEADER_TIMEOUT_SECONDS", 10.0),
        stripe_js_url=env.get("ONSALE_STRIPE_JS_URL") or STRIPE_JS_URL,
        stripe_api_base=(env.get("ONSALE_STRIPE_API_BASE") or STRIPE_API_BASE).rstrip("/"),
        migrate_on_start=_bool(env, "ONSALE_MIGRATE_ON_START", True),
        drain_seconds=drain[0],
        drain_wait_seconds=drain[1],
        drain_spread_seconds=drain[2],
        smtp_url=Secret(_smtp_url(env)),
        mail_from=env.get("ONSALE_MAIL_FROM") or defaults.mail_from,
        public_url=(env.get("ONSALE_PUBLIC_URL") or defaults.public_url).rstrip("/"),
        mail_interval_seconds=_positive(env, "ONSALE_MAIL_INTERVAL_SECONDS", 2.0),
        mail_retry_seconds=_positive(env, "ONSALE_MAIL_RETRY_SECONDS", 10.0),
        mail_retry_max_seconds=_positive(env, "ONSALE_MAIL_RETRY_MAX_SECONDS", 600.0),
        db_pool_size=_pool_size(env),
        db_pool_warm=_pool_warm(env),
    )


def _drain(env: Mapping[str, str]) -> tuple[float, float, float]:
    """The drain's bound, wait and spread; the wait and the spread must leave time,
    within the bound, for the requests in flight to finish."""
    bound = _float(env, "ONSALE_DRAIN_SECONDS", 25.0)
    wait = _float(env, "ONSALE_DRAIN_WAIT_SECONDS", 2.0)
    spread = _float(env, "ONSALE_DRAIN_SPREAD_SECONDS", 5.0)
    if bound < 0 or wait < 0 or spread < 0:
        raise SettingsError("ONSALE_DRAIN_* durations must not be negative")
    if bound and wait + spread >= bound:
        raise SettingsError(
            f"ONSALE_DRAIN_WAIT_SECONDS + ONSALE_DRAIN_SPREAD_SECONDS ({wait + spread:g}) "
            f"must be less than ONSALE_DRAIN_SECONDS ({bound:g})"
        )
    return bound, wait, spread
