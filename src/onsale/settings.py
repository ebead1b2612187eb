"""Typed settings, read once from the environment at start-up.

Every ``ONSALE_*`` variable is read here and nowhere else; the resulting frozen
:class:`Settings` is passed explicitly to whatever needs it.
"""

from __future__ import annotations

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


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``ONSALE_*`` variables.

    Raises SettingsError on a malformed value. Without ``ONSALE_SECRET_KEY`` a
    random key is made, so tokens do not survive a restart: fine for the demo,
    not for production with several processes (each would sign differently).
    """
    env = os.environ if env is None else env
    defaults = Settings()
    secret = env.get("ONSALE_SECRET_KEY") or ""
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
    )
