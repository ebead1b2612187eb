"""Issue 15: marketing consent and the privacy notice. A venue asks, in its
own words, whether a fan may get its news (off by default); the answer is
stored per venue and buyer with its time and the wording's version; the
venue exports the opted-in contacts; a signed link in every venue e-mail
withdraws it. Each venue sets its privacy contact and notice, linked from
the fan page and the e-mail.

Old code: ``PUT /api/admin/venue-settings``, ``GET /api/admin/consents``
and ``/consent/withdraw`` answered 404 (no such routes); a checkout's
``consent`` was ignored.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from onsale.admin.consent import ConsentLinks, privacy_link
from onsale.runtime import Runtime
from onsale.settings import Secret
from onsale.tokens import Signer
from tests.conftest import Admit, auth
from tests.integration.api_helpers import error_code
from tests.security._staff import buy, new_event, new_venue

WORDING = {"enabled": True, "text_en": "Send me news", "text_fr": "Envoyez-moi des nouvelles"}


async def _venue_asking(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, object]]:
    venue = await new_venue(client)
    r = await client.put(
        "/api/admin/venue-settings",
        json={
            "marketing_consent": WORDING,
            "privacy": {
                "contact_email": "dpo@venue.example",
                "notice_text": "We keep your data 3 years.",
            },
        },
        headers=auth(venue["api_key"]),
    )
    assert r.status_code == 200, r.text
    return venue, r.json()


async def test_consent_is_off_until_the_venue_asks(
    client: httpx.AsyncClient, admitted: Admit
) -> None:
    venue = await new_venue(client)
    event = await new_event(client, venue["api_key"])
    settings = (
        await client.get("/api/admin/venue-settings", headers=auth(venue["api_key"]))
    ).json()
    assert settings["marketing_consent"]["enabled"] is False
    public = (await client.get(f"/api/events/{event['id']}/privacy")).json()
    assert public["marketing_consent"]["enabled"] is False
    await buy(client, admitted, event["id"], "fan@example.org", "Fan", consent=True)
    contacts = (await client.get("/api/admin/consents", headers=auth(venue["api_key"]))).json()
    assert contacts == {"contacts": []}


async def test_consent_given_exported_and_withdrawn_by_its_link(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    venue, settings = await _venue_asking(client)
    version = settings["marketing_consent"]["version"]  # type: ignore[index]
    event = await new_event(client, venue["api_key"])
    public = (await client.get(f"/api/events/{event['id']}/privacy")).json()
    assert public["marketing_consent"]["text_fr"] == WORDING["text_fr"]
    assert public["privacy"]["notice_url"].endswith(f"/privacy/{venue['id']}")
    await buy(client, admitted, event["id"], "yes@example.org", "Yes", consent=True)
    await buy(client, admitted, event["id"], "no@example.org", "No", consent=False)
    await buy(client, admitted, event["id"], "quiet@example.org", "Quiet")
    contacts = (await client.get("/api/admin/consents", headers=auth(venue["api_key"]))).json()
    assert [(c["email"], c["wording_version"]) for c in contacts["contacts"]] == [
        ("yes@example.org", version)
    ]
    assert contacts["contacts"][0]["given_at"]
    csv = await client.get("/api/admin/consents.csv", headers=auth(venue["api_key"]))
    assert csv.status_code == 200 and "yes@example.org" in csv.text and "no@" not in csv.text

    link = runtime.buyers.links.withdrawal_link(
        "http://onsale.test", venue["id"], "YES@example.org"
    )
    assert "yes" not in link.lower().split("token=")[1], "the link carries no e-mail"
    target = urlsplit(link)
    page = await client.get(f"{target.path}?{target.query}")
    assert page.status_code == 200 and 'data-testid="withdraw-submit"' in page.text
    # Opening the link withdraws nothing (a mail scanner opens links).
    assert (
        len(
            (await client.get("/api/admin/consents", headers=auth(venue["api_key"]))).json()[
                "contacts"
            ]
        )
        == 1
    )
    done = await client.post(f"{target.path}?{target.query}")
    assert done.status_code == 200 and 'data-testid="withdraw-done"' in done.text
    contacts = (await client.get("/api/admin/consents", headers=auth(venue["api_key"]))).json()
    assert contacts == {"contacts": []}


async def test_a_forged_or_foreign_link_withdraws_nothing(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    venue, _ = await _venue_asking(client)
    event = await new_event(client, venue["api_key"])
    await buy(client, admitted, event["id"], "yes@example.org", "Yes", consent=True)
    other = ConsentLinks(Signer(Secret("another-secret-another-secret-123")))
    forged = other.withdrawal_token(venue["id"], "yes@example.org")
    real = runtime.buyers.links.withdrawal_token(venue["id"], "yes@example.org")
    tampered = real.replace(venue["id"], "ven_other")
    for token in (forged, tampered, "", "a.b.c", "x" * 500):
        r = await client.post("/consent/withdraw", params={"token": token})
        assert r.status_code == 404, token
    contacts = (await client.get("/api/admin/consents", headers=auth(venue["api_key"]))).json()
    assert len(contacts["contacts"]) == 1


async def test_settings_are_validated(client: httpx.AsyncClient) -> None:
    venue = await new_venue(client)
    for body in (
        {"marketing_consent": {"enabled": True}},
        {"marketing_consent": {"enabled": "yes", "text_en": "a", "text_fr": "b"}},
        {"privacy": {"notice_url": "javascript:alert(1)"}},
        {"privacy": {"contact_email": "nobody"}},
        {"privacy": {"colour": "red"}},
        {"theme": {}},
        {"marketing_consent": {"enabled": True, "text_en": "x" * 3000, "text_fr": "y"}},
    ):
        r = await client.put("/api/admin/venue-settings", json=body, headers=auth(venue["api_key"]))
        assert r.status_code == 422 and error_code(r) == "validation_error", body
    settings = (
        await client.get("/api/admin/venue-settings", headers=auth(venue["api_key"]))
    ).json()
    assert settings["marketing_consent"]["enabled"] is False


async def test_the_privacy_notice_page(client: httpx.AsyncClient) -> None:
    venue, _ = await _venue_asking(client)
    url = urlsplit(privacy_link("http://onsale.test", venue["id"]))
    page = await client.get(url.path)
    assert page.status_code == 200
    assert "We keep your data 3 years." in page.text and "dpo@venue.example" in page.text
    r = await client.put(
        "/api/admin/venue-settings",
        json={"privacy": {"notice_url": "https://venue.example/privacy"}},
        headers=auth(venue["api_key"]),
    )
    assert r.status_code == 200
    page = await client.get(url.path)
    assert page.status_code == 302
    assert page.headers["location"] == "https://venue.example/privacy"
    assert (await client.get("/privacy/ven_nope")).status_code == 404
