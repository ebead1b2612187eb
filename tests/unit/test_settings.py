"""Settings from the environment: defaults, overrides, malformed values, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from onsale.settings import Secret, Settings, SettingsError, from_env


def test_defaults_from_an_empty_env() -> None:
    s = from_env({})
    assert s.redis_url is None
    assert s.database_url is None
    assert s.data_dir == Path(".onsale")
    assert s.redis_prefix == "onsale"
    assert s.checkout_grace_seconds == 120
    assert s.admission_interval_seconds == 1.0
    assert s.reconcile_interval_seconds == 5.0
    assert s.orphan_payment_seconds == 120
    assert s.background_tasks is True
    assert s.log_level == "INFO"
    assert s.max_body_bytes == 64 * 1024
    assert s.admin_token.reveal() == ""
    assert not s.admin_token


def test_without_a_secret_key_a_random_one_is_made() -> None:
    a, b = from_env({}).secret_key.reveal(), from_env({}).secret_key.reveal()
    assert len(a) >= 32
    assert a != b


def test_empty_strings_mean_unset() -> None:
    env = {
        "ONSALE_REDIS_URL": "",
        "ONSALE_DATABASE_URL": "",
        "ONSALE_SECRET_KEY": "",
        "ONSALE_DATA_DIR": "",
        "ONSALE_REDIS_PREFIX": "",
        "ONSALE_CHECKOUT_GRACE_SECONDS": "",
        "ONSALE_ADMISSION_INTERVAL_SECONDS": "",
        "ONSALE_BACKGROUND_TASKS": "",
        "ONSALE_LOG_LEVEL": "",
    }
    s = from_env(env)
    assert s.redis_url is None and s.database_url is None
    assert s.secret_key.reveal() != ""
    assert s.data_dir == Path(".onsale")
    assert s.redis_prefix == "onsale"
    assert s.checkout_grace_seconds == 120
    assert s.admission_interval_seconds == 1.0
    assert s.background_tasks is True
    assert s.log_level == "INFO"


def test_overrides() -> None:
    s = from_env(
        {
            "ONSALE_REDIS_URL": "redis://r:6379/2",
            "ONSALE_DATABASE_URL": "postgresql://u:p@db/onsale",
            "ONSALE_SECRET_KEY": "k" * 40,
            "ONSALE_ADMIN_TOKEN": "platform-token",
            "ONSALE_DATA_DIR": "/var/lib/onsale",
            "ONSALE_REDIS_PREFIX": "staging",
            "ONSALE_CHECKOUT_GRACE_SECONDS": "300",
            "ONSALE_ADMISSION_INTERVAL_SECONDS": "0.25",
            "ONSALE_RECONCILE_INTERVAL_SECONDS": "30",
            "ONSALE_ORPHAN_PAYMENT_SECONDS": " 60 ",
            "ONSALE_BACKGROUND_TASKS": "false",
            "ONSALE_LOG_LEVEL": "DEBUG",
            "UNRELATED": "ignored",
        }
    )
    assert s.redis_url == "redis://r:6379/2"
    assert s.database_url == "postgresql://u:p@db/onsale"
    assert s.secret_key.reveal() == "k" * 40
    assert s.admin_token.reveal() == "platform-token"
    assert s.data_dir == Path("/var/lib/onsale")
    assert s.redis_prefix == "staging"
    assert s.checkout_grace_seconds == 300
    assert s.admission_interval_seconds == 0.25
    assert s.reconcile_interval_seconds == 30.0
    assert s.orphan_payment_seconds == 60
    assert s.background_tasks is False
    assert s.log_level == "DEBUG"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONSALE_REDIS_PREFIX", "from-os-env")
    monkeypatch.setenv("ONSALE_CHECKOUT_GRACE_SECONDS", "7")
    s = from_env()
    assert s.redis_prefix == "from-os-env"
    assert s.checkout_grace_seconds == 7


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "True", "yes", "on", "ON"])
def test_bool_true(raw: str) -> None:
    assert from_env({"ONSALE_BACKGROUND_TASKS": raw}).background_tasks is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "off", "Off"])
def test_bool_false(raw: str) -> None:
    assert from_env({"ONSALE_BACKGROUND_TASKS": raw}).background_tasks is False


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("ONSALE_CHECKOUT_GRACE_SECONDS", "abc"),
        ("ONSALE_CHECKOUT_GRACE_SECONDS", "1.5"),
        ("ONSALE_CHECKOUT_GRACE_SECONDS", "2m"),
        ("ONSALE_ORPHAN_PAYMENT_SECONDS", "0x10"),
        ("ONSALE_ADMISSION_INTERVAL_SECONDS", "fast"),
        ("ONSALE_RECONCILE_INTERVAL_SECONDS", "5s"),
        ("ONSALE_BACKGROUND_TASKS", "maybe"),
        ("ONSALE_BACKGROUND_TASKS", "2"),
        ("ONSALE_BACKGROUND_TASKS", "y"),
    ],
)
def test_malformed_values_raise(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        from_env({name: raw})
    assert name in str(info.value)
    assert repr(raw) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-very-secret")
    assert secret.reveal() == "hunter2-very-secret"
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", str([secret])):
        assert "hunter2" not in shown
    assert repr(secret) == "Secret('**********')"
    assert bool(secret) is True
    assert bool(Secret("")) is False


def test_secrets_hidden_in_the_settings_repr() -> None:
    s = from_env({"ONSALE_SECRET_KEY": "sk-abcdef123456", "ONSALE_ADMIN_TOKEN": "adm-987654"})
    for shown in (repr(s), str(s)):
        assert "sk-abcdef123456" not in shown
        assert "adm-987654" not in shown
        assert "Secret('**********')" in shown


def test_with_overrides() -> None:
    base = Settings()
    changed = base.with_overrides(redis_prefix="t", background_tasks=False)
    assert changed.redis_prefix == "t"
    assert changed.background_tasks is False
    assert base.redis_prefix == "onsale"
    assert changed.secret_key is base.secret_key


STRONG = {
    "ONSALE_ENV": "production",
    "ONSALE_SECRET_KEY": "s" * 32,
    "ONSALE_ADMIN_TOKEN": "a" * 32,
    "ONSALE_METRICS_TOKEN": "m" * 16,
}


def test_platform_defaults_outside_production() -> None:
    s = from_env({})
    assert s.environment == "development" and not s.production
    assert s.test_payments is True
    assert not s.metrics_token
    assert s.forwarded_allow_ips == ("127.0.0.1",)
    assert s.header_timeout_seconds == 10.0
    assert s.stripe_js_url == "https://js.stripe.com/v3/"


def test_production_with_strong_secrets() -> None:
    s = from_env(STRONG)
    assert s.production
    assert s.test_payments is False  # off by default in production
    assert s.secret_key.reveal() == "s" * 32
    assert s.metrics_token.reveal() == "m" * 16
    assert from_env({**STRONG, "ONSALE_TEST_PAYMENTS": "1"}).test_payments is True
    assert from_env({**STRONG, "ONSALE_ENV": " Production "}).production


@pytest.mark.parametrize(
    ("change", "named", "said"),
    [
        ({"ONSALE_SECRET_KEY": ""}, "ONSALE_SECRET_KEY", "unset"),
        ({"ONSALE_SECRET_KEY": "é" * 15}, "ONSALE_SECRET_KEY", "got 30"),  # bytes, not chars
        ({"ONSALE_ADMIN_TOKEN": "a" * 31}, "ONSALE_ADMIN_TOKEN", "got 31"),
        ({"ONSALE_METRICS_TOKEN": ""}, "ONSALE_METRICS_TOKEN", "unset"),
    ],
)
def test_production_refuses_weak_secrets(change: dict[str, str], named: str, said: str) -> None:
    with pytest.raises(SettingsError) as info:
        from_env({**STRONG, **change})
    message = str(info.value)
    assert named in message and said in message
    assert "\n" not in message
    for value in STRONG.values():  # never the secrets themselves
        if value != "production":
            assert value not in message
    # the same settings outside production are fine
    assert not from_env({**STRONG, **change, "ONSALE_ENV": "development"}).production


def test_production_problems_all_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        from_env({"ONSALE_ENV": "production"})
    assert str(info.value).count("ONSALE_") == 4  # ONSALE_ENV and the three it needs


@pytest.mark.parametrize("raw", ["prod", "staging", "test", "yes"])
def test_unknown_environments_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="ONSALE_ENV"):
        from_env({"ONSALE_ENV": raw})


def test_forwarded_allow_ips() -> None:
    listed = from_env({"ONSALE_FORWARDED_ALLOW_IPS": " 10.0.0.0/8, 192.168.1.7 ,::1,fd00::/8 "})
    assert listed.forwarded_allow_ips == ("10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8")
    # set but empty: trust no proxy (unset keeps the default, loopback)
    assert from_env({"ONSALE_FORWARDED_ALLOW_IPS": ""}).forwarded_allow_ips == ()


@pytest.mark.parametrize("raw", ["*", "proxy.internal", "10.0.0.0/33", "10.0.0.1,nope"])
def test_forwarded_allow_ips_must_be_addresses(raw: str) -> None:
    with pytest.raises(SettingsError, match="ONSALE_FORWARDED_ALLOW_IPS"):
        from_env({"ONSALE_FORWARDED_ALLOW_IPS": raw})


def test_header_timeout_must_be_positive() -> None:
    assert from_env({"ONSALE_HEADER_TIMEOUT_SECONDS": "2.5"}).header_timeout_seconds == 2.5
    for raw in ("0", "-1", "soon"):
        with pytest.raises(SettingsError, match="ONSALE_HEADER_TIMEOUT_SECONDS"):
            from_env({"ONSALE_HEADER_TIMEOUT_SECONDS": raw})


def test_metrics_token_is_a_secret() -> None:
    s = from_env({"ONSALE_METRICS_TOKEN": "scrape-me-0123456789"})
    assert s.metrics_token.reveal() == "scrape-me-0123456789"
    assert "scrape-me" not in repr(s)


def test_stripe_api_base_is_stripe_unless_set() -> None:
    assert from_env({}).stripe_api_base == "https://api.stripe.com"
    local = from_env({"ONSALE_STRIPE_API_BASE": "http://127.0.0.1:8420/"})
    assert local.stripe_api_base == "http://127.0.0.1:8420"


def test_the_postgres_pool_settings_have_bounds() -> None:
    s = from_env({"ONSALE_DB_POOL_SIZE": "12", "ONSALE_DB_POOL_WARM": "0"})
    assert (s.db_pool_size, s.db_pool_warm) == (12, 0)
    assert (from_env({}).db_pool_size, from_env({}).db_pool_warm) == (30, 5)
    for name, bad in (("ONSALE_DB_POOL_SIZE", "0"), ("ONSALE_DB_POOL_WARM", "-1")):
        with pytest.raises(SettingsError, match=name):
            from_env({name: bad})
