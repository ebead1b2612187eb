"""The pure parts of staff and the buyers' data: the action table, a staff
body, a venue's settings, the consent links."""

from __future__ import annotations

import pytest

from onsale.admin import venue_settings
from onsale.admin.consent import ConsentLinks, privacy_link, wording_version
from onsale.admin.roles import ALLOWED, Action, Role, actions_of, may, parse_staff
from onsale.errors import ValidationFailed
from onsale.settings import Secret
from onsale.tokens import Signer


def test_the_table_says_what_api_md_says() -> None:
    assert actions_of("viewer") == ["read", "who_am_i"]
    assert actions_of("door") == ["scan", "who_am_i"]
    assert set(actions_of("boxoffice")) == {"read", "boxoffice", "resend_email", "who_am_i"}
    assert set(actions_of("manager")) == {a.value for a in Action}
    assert not may("owner", Action.WHO_AM_I)
    assert all(Role.MANAGER in roles for roles in ALLOWED.values())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], ""),
        ({"email": "a@b.example", "role": "admin"}, "role"),
        ({"email": "a b@c.example", "role": "door"}, "email"),
        ({"email": "x" * 300 + "@b.example", "role": "door"}, "email"),
        ({"email": "a@b.example", "role": "door", "name": "A"}, "name"),
    ],
)
def test_bad_staff_bodies(body: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_staff(body)
    assert field in caught.value.details["fields"]


def test_a_staff_body() -> None:
    assert parse_staff({"email": " kim@staff.example ", "role": "door"}) == (
        "kim@staff.example",
        Role.DOOR,
    )


def test_settings_defaults_and_version() -> None:
    view = venue_settings.view({})
    assert view["marketing_consent"]["enabled"] is False
    parsed = venue_settings.parse(
        {"marketing_consent": {"enabled": True, "text_en": " News? ", "text_fr": "Nouvelles ?"}}
    )
    assert parsed["marketing_consent"]["text_en"] == "News?"
    version = venue_settings.view(parsed)["marketing_consent"]["version"]
    assert version == wording_version("News?", "Nouvelles ?") != wording_version("News!", "")


def test_withdrawal_tokens() -> None:
    links = ConsentLinks(Signer(Secret("a-secret-a-secret-a-secret-a-secret")))
    token = links.withdrawal_token("ven_1", "Fan+tag@Example.org")
    assert "fan" not in token.lower()
    assert links.read_token(token) == ("ven_1", links.buyer_ref("fan@example.org"))
    assert links.read_token(token.replace("ven_1", "ven_2")) is None
    assert links.read_token(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert links.read_token("") is None
    link = links.withdrawal_link("https://tickets.example/", "ven_1", "fan@example.org")
    assert link.startswith("https://tickets.example/consent/withdraw?token=ven_1.")
    assert (
        privacy_link("https://tickets.example/", "ven_1") == "https://tickets.example/privacy/ven_1"
    )
