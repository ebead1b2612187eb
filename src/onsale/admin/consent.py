"""Consent and privacy, the pure part: the wording's version, the keyed
reference of a buyer's e-mail, the withdrawal link's token, and the two URLs
every venue e-mail carries (:class:`ConsentLinks`: the one home of those
links, for the mail to call).

The withdrawal token names the venue and a keyed hash of the normalized
e-mail, never the e-mail itself (URLs end up in logs and histories), and is
signed with a key of its own; it does not expire: a link in an old e-mail
still withdraws.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from onsale.checkout.policy import normalize_email
from onsale.tokens import Signer

REF_PURPOSE = b"onsale/buyer-ref/v1"
WITHDRAW_PURPOSE = b"onsale/consent-withdraw/v1"


def wording_version(text_en: str, text_fr: str) -> str:
    """The version of a consent wording: the buyer consented to these words."""
    digest = hashlib.sha256(f"{text_en}\x00{text_fr}".encode()).hexdigest()
    return f"w-{digest[:12]}"


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


class ConsentLinks:
    def __init__(self, signer: Signer) -> None:
        self._ref_key = signer.derive(REF_PURPOSE)
        self._link_key = signer.derive(WITHDRAW_PURPOSE)

    def buyer_ref(self, email: str) -> str:
        """A keyed hash of the buyer's normalized e-mail: lets the audit log
        and the withdrawal link name a buyer without their address."""
        return _mac(self._ref_key, normalize_email(email))

    def withdrawal_token(self, venue_id: str, email: str) -> str:
        ref = self.buyer_ref(email)
        return f"{venue_id}.{ref}.{_mac(self._link_key, f'{venue_id}.{ref}')}"

    def read_token(self, token: str) -> tuple[str, str] | None:
        """(venue id, buyer ref) of a genuine token, else None."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 200:
            return None
        venue_id, ref, mac = parts
        if not hmac.compare_digest(mac, _mac(self._link_key, f"{venue_id}.{ref}")):
            return None
        return venue_id, ref

    def withdrawal_link(self, base_url: str, venue_id: str, email: str) -> str:
        """The link in every e-mail of the venue that stops its news to ``email``."""
        token = self.withdrawal_token(venue_id, email)
        return f"{base_url.rstrip('/')}/consent/withdraw?token={quote(token)}"


def privacy_link(base_url: str, venue_id: str) -> str:
    """The venue's privacy notice (its own URL, or its text on onsale's page)."""
    return f"{base_url.rstrip('/')}/privacy/{quote(venue_id)}"
