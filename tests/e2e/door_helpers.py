"""What the door's browser tests share: a sold ticket, a door key, and a
video of a QR code for Chromium's fake camera (Y4M written by hand: raw
frames, no video library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import segno

from tests.conftest import auth

CASH = {"provider": "cash"}


def sell(
    api: httpx.Client, key: str, event_id: str, n: int = 1, email: str = "fan@example.org"
) -> dict[str, Any]:
    r = api.post(
        f"/api/admin/events/{event_id}/boxoffice",
        headers=auth(key),
        json={
            "section": "FLOOR",
            "quantity": n,
            "buyer": {"email": email, "name": "Camille"},
            "payment": CASH,
        },
    )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order


def door_key(api: httpx.Client, key: str, event_id: str, label: str = "Main door") -> str:
    r = api.post(
        f"/api/admin/events/{event_id}/door-keys", headers=auth(key), json={"label": label}
    )
    assert r.status_code == 201, r.text
    door: str = r.json()["door_key"]
    return door


def qr_y4m(code: str, path: Path, *, width: int = 640, height: int = 480, frames: int = 4) -> Path:
    """A short grey-scale Y4M video of ``code``'s QR code, centred on white."""
    matrix = segno.make(code, error="m").matrix
    size = len(matrix)
    quiet = 4
    scale = min(width, height) // (size + 2 * quiet)
    side = (size + 2 * quiet) * scale
    left, top = (width - side) // 2, (height - side) // 2
    luma = bytearray(b"\xff" * (width * height))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if not dark:
                continue
            for dy in range(scale):
                start = (top + (quiet + y) * scale + dy) * width + left + (quiet + x) * scale
                luma[start : start + scale] = b"\x00" * scale
    chroma = b"\x80" * ((width // 2) * (height // 2))
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * frames)
    return path
