"""The fan page's seat map (seatmap.js) with a server map up to a second old
(the server shares one reading of the seat states among the requests of a
second: onsale.inventory.seatmap), run in the browser that runs the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

EVENT = {
    "limits": {"per_order": 6},
    "sections": [{"code": "S", "kind": "seated", "category": "STD", "available": 3}],
    "categories": [{"code": "STD", "name": "Std", "price_cents": 100, "currency": "EUR"}],
}
SETUP = """
document.body.innerHTML = '<main id="fan" data-language="en"></main>'
  + '<script id="strings" type="application/json">{}</script>';
"""


def seats(**states: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"S-A-{n}",
            "section": "S",
            "row": "A",
            "number": n,
            "state": states.get(f"a{n}", "free"),
        }
        for n in (1, 2, 3)
    ]


@pytest.fixture
def run(server: Any, new_page: Callable[..., Page]) -> Callable[[str, Any], Any]:
    """``run("(SeatMap, arg) => ...", arg)`` in a page with the fan's modules."""
    page = new_page()
    page.goto(f"{server.url}/static/fan/seatmap.js")  # same origin, no page started
    page.evaluate(SETUP)

    def call(body: str, arg: Any) -> Any:
        script = (
            "async (arg) => { const { SeatMap } = await import('/static/fan/seatmap.js'); "
            f"return ({body})(SeatMap, arg); }}"
        )
        return page.evaluate(script, arg)

    return call


RELEASE = """(SeatMap, { event, before, stale, learnedMs }) => {
  const map = new SeatMap(document.createElement("div"), event,
    { change() {}, best() {}, notice() {} }, { learnedMs });
  map.build(before);
  map.setMine(["S-A-1", "S-A-2"]);   // the fan's hold
  map.setMine([]);                    // released (main.js releaseHold)
  map.selected = new Set(["S-A-1", "S-A-2"]);  // the choice stays
  map.update(stale);                  // a map from before the release
  return { selected: [...map.selected], state: map.stateOf("S-A-1") };
}"""


def test_a_released_hold_keeps_the_choice_under_a_map_from_before(
    run: Callable[[str, Any], Any],
) -> None:
    """Without what the page learned (learnedMs 0, as the page was), a map
    from before the release shows the fan's own seats "held" and drops them
    from the choice the page meant to keep."""
    arg = {"event": EVENT, "before": seats(), "stale": seats(a1="held", a2="held")}
    assert run(RELEASE, {**arg, "learnedMs": 0}) == {"selected": [], "state": "held"}
    kept = run(RELEASE, {**arg, "learnedMs": 4000})
    assert kept == {"selected": ["S-A-1", "S-A-2"], "state": "free"}


TAKEN = """async (SeatMap, { event, learnedMs }) => {
  const seats = (s3) => [1, 2, 3].map((n) => ({ id: `S-A-${n}`, section: "S", row: "A",
    number: n, state: n === 3 ? s3 : "free" }));
  const map = new SeatMap(document.createElement("div"), event,
    { change() {}, best() {}, notice() {} }, { learnedMs });
  map.build(seats("free"));
  map.drop(["S-A-3"]);              // a refused hold named it: someone took it
  map.update(seats("free"));        // a map from before that
  const stale = map.stateOf("S-A-3");
  map.update(seats("sold"));        // a newer map wins
  const fresh = map.stateOf("S-A-3");
  await new Promise((r) => setTimeout(r, learnedMs + 50));
  map.update(seats("free"));        // released later: free again
  return [stale, fresh, map.stateOf("S-A-3")];
}"""


def test_seats_a_refused_hold_named_stay_taken_under_a_map_from_before(
    run: Callable[[str, Any], Any],
) -> None:
    """Without it, the seat someone else just took showed "free" again until
    the next map after the server's window."""
    assert run(TAKEN, {"event": EVENT, "learnedMs": 0})[0] == "free"
    assert run(TAKEN, {"event": EVENT, "learnedMs": 300}) == ["held", "sold", "free"]
