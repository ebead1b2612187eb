"""The fan page's words: one JSON dictionary per language under
``static/fan/i18n/``. The server renders the page's shell from it and inlines
it in the page, where the scripts read the rest, so a phrase is written once.

Pure code (reads files only).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"
FOLDER = STATIC / "fan" / "i18n"
# The pages with dictionaries of their own (static/<page>/i18n/<lang>.json).
PAGES = ("fan", "door")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@functools.cache
def dictionary(language: str, page: str = "fan") -> dict[str, str]:
    """Every phrase of ``language`` by key, for ``page`` (one of PAGES).
    Raises FileNotFoundError for a language without a dictionary, ValueError
    for one that is not flat text or a page without dictionaries."""
    if page not in PAGES:
        raise ValueError(f"no dictionaries for page {page!r}")
    folder = FOLDER if page == "fan" else STATIC / page / "i18n"
    raw = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ValueError(f"{language}.json must map keys to strings")
    return raw


def placeholders(phrase: str) -> set[str]:
    """The ``{name}`` slots a phrase expects (what the scripts fill in)."""
    return set(PLACEHOLDER.findall(phrase))


def mismatches(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Keys missing on one side, or whose slots differ: what a translation
    must not have."""
    problems = [f"only in one: {k}" for k in sorted(set(a) ^ set(b))]
    for key in sorted(set(a) & set(b)):
        if placeholders(a[key]) != placeholders(b[key]):
            problems.append(f"slots differ: {key}")
    return problems
