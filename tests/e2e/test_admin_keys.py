"""The venue's API keys on the venue page, in a real browser against a real
server: rotate the key, sign in again with the new one, revoke the old one;
the API agrees at each step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import auth
from tests.e2e.test_admin_page import admin_page, assert_labelled, sign_in


def works(api: httpx.Client, key: str) -> int:
    return api.get("/api/admin/events", headers=auth(key)).status_code


def key_id_of(api: httpx.Client, key: str) -> str:
    """The id of the key the venue signs in with."""
    keys = api.get("/api/admin/venue-keys", headers=auth(key)).json()["keys"]
    (current,) = [k["key_id"] for k in keys if k["current"]]
    assert isinstance(current, str)
    return current


def test_rotate_sign_in_with_the_new_key_and_revoke_the_old(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    old = venue["api_key"]
    old_id = key_id_of(api, old)
    page, errors = admin_page(new_page(), server)
    sign_in(page, old)
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()
    page.get_by_test_id("admin-keys").click()
    keys = page.get_by_test_id("keys-list")
    expect(keys.locator("tbody tr")).to_have_count(1)
    expect(keys).to_contain_text(old[:10])
    expect(keys).not_to_contain_text(old)
    assert_labelled(page)
    shots(page, "keys")

    # Rotate, with the default grace of 24 hours.
    expect(page.get_by_test_id("keys-grace")).to_have_value("86400")
    page.get_by_test_id("keys-rotate").click()
    shown = page.get_by_test_id("keys-new-key")
    expect(shown).to_be_visible()
    new = shown.input_value()
    assert new.startswith("vk_") and new != old
    expect(page.get_by_test_id("keys-new-key-panel")).to_contain_text("shown only this once")
    page.get_by_test_id("keys-copy").click()
    expect(page.get_by_test_id("keys-copy")).to_have_text("Copied")
    assert_labelled(page)
    shots(page, "new key shown once")
    # Both keys work: the new one at once, the old one for its grace.
    assert works(api, new) == 200 and works(api, old) == 200

    # Sign in again with the new key.
    page.get_by_test_id("keys-signin-again").click()
    expect(page.get_by_test_id("admin-signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    sign_in(page, new)
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('onsale.admin.key')") == new

    # Revoke the old key from the list: it stops at once.
    page.get_by_test_id("admin-keys").click()
    expect(keys.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id(f"key-{old_id}")).to_have_attribute("data-state", "expiring")
    page.get_by_test_id(f"key-revoke-{old_id}").click()
    expect(page.get_by_test_id("keys-revoke-dialog")).to_be_visible()
    page.get_by_test_id("keys-revoke-confirm").click()
    expect(page.get_by_test_id(f"key-{old_id}")).to_have_attribute("data-state", "revoked")
    expect(page.get_by_test_id("admin-notice")).to_contain_text("revoked")
    expect(page.get_by_test_id(f"key-revoke-{old_id}")).to_have_count(0)
    shots(page, "old key revoked")
    assert works(api, old) == 401 and works(api, new) == 200

    # The last working key cannot be revoked: the page says why.
    new_id = key_id_of(api, new)
    page.get_by_test_id(f"key-revoke-{new_id}").click()
    page.get_by_test_id("keys-revoke-confirm").click()
    expect(page.get_by_test_id("admin-error")).to_contain_text("last working key")
    shots(page, "last key refused")
    assert works(api, new) == 200
    assert errors == []


def test_rotation_without_grace_in_french(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    old = venue["api_key"]
    page, errors = admin_page(new_page(), server, "fr")
    sign_in(page, old)
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()
    page.get_by_test_id("admin-keys").click()
    expect(page.get_by_role("heading", name="Clés d'API")).to_be_visible()
    page.get_by_test_id("keys-grace").select_option("0")
    page.get_by_test_id("keys-rotate").click()
    new = page.get_by_test_id("keys-new-key").input_value()
    expect(page.get_by_test_id("keys-new-key-panel")).to_contain_text("ne fonctionne plus")
    shots(page, "new key, old one stopped")
    assert works(api, old) == 401 and works(api, new) == 200
    page.get_by_test_id("keys-signin-again").click()
    sign_in(page, new)
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()
    assert errors == []
