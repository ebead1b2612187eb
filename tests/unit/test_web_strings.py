"""The fan page's dictionaries: every phrase in both languages, with the same
slots, as the page fills them (``{name}``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onsale.events.policy import LANGUAGES
from onsale.web import strings


def test_every_language_has_every_phrase_with_the_same_slots() -> None:
    english = strings.dictionary("en")
    for language in LANGUAGES:
        assert strings.mismatches(english, strings.dictionary(language)) == []


def test_a_missing_phrase_or_a_renamed_slot_is_caught() -> None:
    english = strings.dictionary("en")
    broken = {**english, "queue.ahead": "{count} devant vous"}
    del broken["queue.join"]
    assert strings.mismatches(english, broken) == [
        "only in one: queue.join",
        "slots differ: queue.ahead",
    ]


def test_every_error_code_of_the_contract_has_a_message() -> None:
    codes = [
        "seats_unavailable", "hold_expired", "sale_not_open", "sold_out", "limit_exceeded",
        "idempotency_conflict", "payment_declined", "unauthorized", "token_expired",
        "forbidden", "not_found", "validation_error", "rate_limited", "unavailable",
    ]  # fmt: skip
    for language in LANGUAGES:
        phrases = strings.dictionary(language)
        assert [c for c in codes if f"error.{c}" not in phrases] == []


def test_placeholders() -> None:
    assert strings.placeholders("{n} × {price}") == {"n", "price"}
    assert strings.placeholders("no slot, {} nor { n }") == set()


def test_a_dictionary_must_be_flat_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "xx.json").write_text(json.dumps({"a": {"nested": "no"}}))
    monkeypatch.setattr(strings, "FOLDER", tmp_path)
    with pytest.raises(ValueError):
        strings.dictionary("xx")
    with pytest.raises(FileNotFoundError):
        strings.dictionary("zz")


def test_the_door_page_speaks_every_language_with_the_same_slots() -> None:
    english = strings.dictionary("en", "door")
    for language in LANGUAGES:
        assert strings.mismatches(english, strings.dictionary(language, "door")) == []
    results = ("admitted", "already_admitted", "invalid", "refunded", "wrong_event")
    assert [r for r in results if f"result.{r}" not in english] == []
