"""Handing a message to the mail server (aiosmtplib), from
``ONSALE_SMTP_URL`` = ``smtp://[user:pass@]host:port[?starttls=1]``
(``smtps://`` for implicit TLS)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from onsale.settings import Secret

TIMEOUT_SECONDS = 20.0


class MailError(Exception):
    """The mail server could not be reached or refused the message."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        """Raises ValueError for a URL that is not an SMTP one."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("not an smtp:// URL")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            tls=tls,
        )


class SmtpSender:
    """Sends through one SMTP server; ``None`` URL: nothing can be sent (the
    outbox keeps its rows)."""

    def __init__(self, url: Secret) -> None:
        self.config = SmtpConfig.parse(url.reveal()) if url else None

    @property
    def configured(self) -> bool:
        return self.config is not None

    async def send(self, message: EmailMessage) -> None:
        """Raises MailError (the message may be tried again)."""
        cfg = self.config
        if cfg is None:
            raise MailError("no mail server configured (ONSALE_SMTP_URL)")
        # smtps: TLS from the first byte; smtp: STARTTLS when asked, else when
        # the server offers it (None).
        start_tls = False if cfg.tls else (True if cfg.starttls else None)
        try:
            await aiosmtplib.send(
                message,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password,
                start_tls=start_tls,
                use_tls=cfg.tls,
                timeout=TIMEOUT_SECONDS,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(type(exc).__name__) from exc
