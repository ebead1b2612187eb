"""Venues and their keys: creating a venue and telling which venue a key is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin import repo
from onsale.admin.key_service import KeyService
from onsale.events import policy


@dataclass
class VenueService:
    engine: AsyncEngine

    def __post_init__(self) -> None:
        # The venue keys that authenticate every venue request.
        self.keys = KeyService(self.engine)

    async def create_venue(self, body: Any) -> dict[str, str]:
        name, slug, tz = policy.parse_venue(body)
        venue_id, key = await repo.create_venue(self.engine, name, slug, tz)
        return {"id": venue_id, "slug": slug, "name": name, "timezone": tz, "api_key": key}

    async def venue_for_key(self, key: str) -> str:
        """The venue of a working key. Raises Unauthorized (TokenExpired for a
        rotated key past its grace)."""
        return (await self.keys.authenticate(key)).venue_id
