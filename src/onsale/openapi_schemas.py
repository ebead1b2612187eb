"""The bodies of API.md as JSON Schemas, for ``/openapi.json``: every field
API.md writes (fixed), plus the extensions onsale adds (marked as such).

(Over 450 lines on purpose: it is one table of data, a schema per body, read
side by side with API.md; split, the shared pieces would be imported back.)"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """An object with ``properties``; ``required`` names those always there."""
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


SALE = obj(("opens_at", "closes_at"), prequeue_opens_at=TIME, opens_at=TIME, closes_at=TIME)
CATEGORY = obj(
    ("code", "name", "price_cents", "currency"),
    code=STRING,
    name=STRING,
    price_cents=INT,
    fee_cents=INT,
    currency=STRING,
)
SECTION = obj(
    ("code", "kind", "category"),
    code=STRING,
    kind=enum("ga", "seated"),
    category=STRING,
    capacity=INT,
    rows=array(obj(("row", "seats"), row=STRING, seats=INT)),
)
TICKET = obj(
    ("ticket_id", "section", "seat", "price_cents", "fee_cents"),
    ticket_id=STRING,
    section=STRING,
    seat=nullable(STRING),
    price_cents=INT,
    fee_cents=INT,
    code=STRING,
    # Sequential per venue (I10); null only for tickets sold before numbering.
    number=nullable(INT),
    status=enum("live", "void"),
)
BUYER = obj(("email", "name"), email=STRING, name=STRING)
PAYMENT = obj(
    ("provider",),
    provider=enum("test", "stripe", "cash", "terminal"),
    card_number=STRING,
    payment_id=STRING,
    reference=STRING,
)
HOLD_REQUEST = obj((), seats=array(STRING), section=STRING, quantity=INT, best_available=BOOL)
QUEUE_STATE = enum("prequeue", "waiting", "admitted", "closed")
EVENT_STATUS = enum("scheduled", "prequeue", "on_sale", "sold_out", "closed")
SECTION_STOCK = obj(
    ("code", "kind", "category", "capacity", "available"),
    code=STRING,
    kind=enum("ga", "seated"),
    category=STRING,
    capacity=INT,
    available=INT,
)

SCHEMAS: dict[str, Schema] = {
    "VenueRequest": obj(("name", "slug"), name=STRING, slug=STRING, timezone=STRING),
    "VenueCreated": obj(
        ("id", "slug", "api_key"),
        id=STRING,
        slug=STRING,
        name=STRING,
        timezone=STRING,
        api_key=STRING,
    ),
    "EventDefinition": obj(
        ("name", "starts_at", "sale", "categories", "sections"),
        id=STRING,
        venue_id=STRING,  # extension
        name=STRING,
        starts_at=TIME,
        sale=SALE,
        admission=obj(
            (),
            rate_per_minute=INT,
            max_active=INT,
            session_seconds=INT,
            absent_grace_seconds=INT,  # extension
            shopper_grace_seconds=INT,  # extension
            pow_difficulty=INT,  # extension
        ),
        hold_seconds=INT,
        limits=obj((), per_order=INT, per_buyer=INT),
        language=enum("en", "fr"),  # extension
        retention_days=INT,  # extension: days after the event before its buyers are erased
        categories=array(CATEGORY),
        sections=array(SECTION),
    ),
    "EventList": obj(("events",), events=array(ref("EventDefinition"))),
    "Event": obj(
        ("id", "name", "starts_at", "status", "sale", "categories", "sections"),
        id=STRING,
        name=STRING,
        starts_at=TIME,
        status=EVENT_STATUS,
        sale=SALE,
        hold_seconds=INT,
        limits=obj((), per_order=INT, per_buyer=INT),
        language=enum("en", "fr"),  # extension
        categories=array(CATEGORY),
        sections=array(SECTION_STOCK),
    ),
    "Seats": obj(
        ("event_id", "seats"),
        event_id=STRING,
        seats=array(
            obj(
                ("id", "section", "row", "number", "state"),
                id=STRING,
                section=STRING,
                row=STRING,
                number=INT,
                state=enum("free", "held", "sold"),
            )
        ),
    ),
    "QueueJoined": obj(
        ("queue_token", "state", "position"),
        queue_token=STRING,
        state=QUEUE_STATE,
        position=nullable(INT),
        ahead=INT,  # extension
        eta_seconds=INT,  # extension
        eta_p90_seconds=INT,  # extension
        entry_id=STRING,  # extension
        number=INT,  # extension: the fan's queue number, never changes
        likely_sold_out=BOOL,  # extension
    ),
    "QueueStatus": obj(
        ("state",),
        state=QUEUE_STATE,
        position=nullable(INT),
        ahead=INT,
        eta_seconds=INT,
        eta_p90_seconds=INT,  # extension
        likely_sold_out=BOOL,  # extension
        all_held=BOOL,  # extension: every place left is held
        next_release_seconds=INT,  # extension: until the earliest hold runs out
        number=INT,  # extension
        access_token=STRING,
        access_expires_at=TIME,
        reason=STRING,  # extension: why "closed"
    ),
    "HoldRequest": HOLD_REQUEST,
    "Hold": obj(
        ("hold_id", "seats", "section", "quantity", "expires_at"),
        hold_id=STRING,
        seats=array(STRING),
        section=STRING,
        quantity=INT,
        expires_at=TIME,
        state=STRING,  # extension: the hold's stage (held, checkout...)
    ),
    "CheckoutRequest": obj(("buyer", "payment"), buyer=BUYER, payment=PAYMENT),
    "PaymentRequest": obj(("buyer",), buyer=BUYER),
    "PaymentStarted": obj(
        ("provider", "payment_id", "client_secret", "publishable_key", "amount_cents", "currency"),
        provider=enum("stripe"),
        payment_id=STRING,
        client_secret=STRING,
        publishable_key=STRING,
        amount_cents=INT,
        currency=STRING,
    ),
    "PaymentAccountRequest": obj(
        ("provider", "secret_key", "publishable_key", "webhook_secret"),
        provider=enum("stripe"),
        secret_key=STRING,
        publishable_key=STRING,
        webhook_secret=STRING,
    ),
    "PaymentAccount": obj(
        ("provider", "publishable_key", "configured"),
        provider=enum("stripe"),
        publishable_key=nullable(STRING),
        configured=BOOL,
        webhook_path=STRING,
    ),
    "BoxOfficeRequest": {
        "allOf": [HOLD_REQUEST, obj(("buyer", "payment"), buyer=BUYER, payment=PAYMENT)]
    },
    "Order": obj(
        ("order_id", "status", "total_cents", "currency", "tickets"),
        order_id=STRING,
        order_token=STRING,
        status=enum("paid", "refunded"),
        total_cents=INT,
        fees_cents=INT,  # extension: the venue's fees within the total
        currency=STRING,
        tickets=array(TICKET),
    ),
    "Stats": obj(
        ("capacity", "sold", "held", "available", "queue", "orders", "revenue_cents"),
        capacity=INT,
        sold=INT,
        held=INT,
        available=INT,
        queue=obj(("waiting", "admitted", "active"), waiting=INT, admitted=INT, active=INT),
        orders=INT,
        revenue_cents=INT,
        # extensions, for the venue's live view
        fees_cents=INT,
        refunded_orders=INT,
        checked_in=INT,
        currency=STRING,
        status=EVENT_STATUS,
        sections=array(SECTION_STOCK),
    ),
    "AdminOrder": obj(
        ("order_id", "status", "channel", "buyer", "total_cents", "currency", "created_at"),
        order_id=STRING,
        status=enum("paid", "refunded"),
        channel=enum("online", "boxoffice"),
        event_id=STRING,  # extension
        buyer=BUYER,
        total_cents=INT,
        fees_cents=INT,  # extension
        currency=STRING,
        created_at=TIME,
        tickets=array(TICKET),
    ),
    "Orders": obj(("orders",), orders=array(ref("AdminOrder"))),
    # Extensions: venue keys (rotation, revocation, the platform's re-issue).
    "KeyRotateRequest": obj((), grace_seconds={**INT, "minimum": 0, "maximum": 604800}),
    "KeyRotated": obj(
        ("api_key", "key_id", "previous_expires_at"),
        api_key=STRING,
        key_id=STRING,
        prefix=STRING,
        previous_key_id=STRING,
        previous_expires_at=TIME,
    ),
    "VenueKeys": obj(
        ("keys",),
        keys=array(
            obj(
                ("key_id", "prefix", "created_at", "expires_at", "revoked_at", "state"),
                key_id=STRING,
                prefix=nullable(STRING),
                created_at=TIME,
                expires_at=nullable(TIME),
                revoked_at=nullable(TIME),
                last_used_at=nullable(TIME),
                state=enum("active", "expiring", "expired", "revoked"),
                current=BOOL,
                role=enum("manager", "boxoffice", "door", "viewer"),
                staff_id=nullable(STRING),
            )
        ),
    ),
    "KeyReissueRequest": obj((), revoke_others=BOOL),
    "KeyIssued": obj(
        ("api_key", "key_id", "venue_id", "revoked"),
        api_key=STRING,
        key_id=STRING,
        prefix=STRING,
        venue_id=STRING,
        revoked=array(STRING),
    ),
    # Tickets at the door (API.md "Tickets delivered and checked at the door").
    "DoorKeyRequest": obj((), label=STRING),
    "DoorKeyCreated": obj(
        ("door_key", "label"),
        door_key=STRING,
        label=STRING,
        id=STRING,
        event_id=STRING,
        created_at=TIME,
        revoked_at=nullable(TIME),
    ),
    "DoorKeys": obj(
        ("door_keys",),
        door_keys=array(
            obj(
                ("id", "label", "created_at"),
                id=STRING,
                event_id=STRING,
                label=STRING,
                created_at=TIME,
                revoked_at=nullable(TIME),
            )
        ),
    ),
    "ScanRequest": obj(
        ("code", "scan_id"),
        code=STRING,
        scan_id=STRING,
        gate=STRING,
        offline=BOOL,
        scanned_at=TIME,
        local_result=enum("admitted", "already_admitted", "invalid", "refunded", "wrong_event"),
    ),
    "Scan": obj(
        ("result", "ticket", "first_scanned_at"),
        result=enum("admitted", "already_admitted", "invalid", "refunded", "wrong_event"),
        ticket=nullable(
            obj(
                ("ticket_id",),
                ticket_id=STRING,
                event_id=STRING,
                number=nullable(INT),
                section=STRING,
                seat=nullable(STRING),
                status=enum("live", "void"),
            )
        ),
        first_scanned_at=nullable(TIME),
    ),
    "DoorBundle": obj(
        ("venue_id", "public_keys", "voided"),
        venue_id=STRING,
        event_id=nullable(STRING),
        event_ids=array(STRING),
        public_keys=array(STRING),
        voided=array(STRING),
        admitted=array(STRING),
        generated_at=TIME,
    ),
    "DoorReport": obj(
        ("checked_in", "gates", "conflicts"),
        checked_in=INT,
        gates=array(obj(("gate", "checked_in"), gate=STRING, checked_in=INT, inside_now=INT)),
        conflicts=array(
            obj(
                ("ticket_id", "first", "again"),
                ticket_id=STRING,
                number=nullable(INT),
                section=STRING,
                seat=nullable(STRING),
                first=obj(("gate", "at"), gate=STRING, at=TIME),
                again=obj(("gate", "at"), gate=STRING, at=TIME),
            )
        ),
    ),
    "Resent": obj(("order_id", "status"), order_id=STRING, status=enum("queued")),
    "Draw": obj(
        ("commitment",),
        event_id=STRING,
        commitment=STRING,
        algorithm=STRING,
        drawn=BOOL,
        seed=STRING,
        entries=array(STRING),
    ),
}

# (method, path) -> (request body schema or None, success body schema or None)
BODIES: dict[tuple[str, str], tuple[str | None, str | None]] = {
    ("post", "/api/admin/venues"): ("VenueRequest", "VenueCreated"),
    ("post", "/api/admin/events"): ("EventDefinition", "EventDefinition"),
    ("get", "/api/admin/events"): (None, "EventList"),
    ("get", "/api/admin/events/{event_id}"): (None, "EventDefinition"),
    ("patch", "/api/admin/events/{event_id}"): ("EventDefinition", "EventDefinition"),
    ("get", "/api/admin/events/{event_id}/stats"): (None, "Stats"),
    ("get", "/api/admin/events/{event_id}/orders"): (None, "Orders"),
    ("post", "/api/admin/events/{event_id}/boxoffice"): ("BoxOfficeRequest", "Order"),
    ("post", "/api/admin/orders/{order_id}/refund"): (None, "AdminOrder"),
    ("get", "/api/admin/venue-keys"): (None, "VenueKeys"),
    ("post", "/api/admin/venue-keys/rotate"): ("KeyRotateRequest", "KeyRotated"),
    ("post", "/api/admin/venues/{venue_id}/keys"): ("KeyReissueRequest", "KeyIssued"),
    ("get", "/api/events/{event_id}"): (None, "Event"),
    ("get", "/api/events/{event_id}/seats"): (None, "Seats"),
    ("post", "/api/events/{event_id}/queue"): (None, "QueueJoined"),
    ("get", "/api/events/{event_id}/queue/status"): (None, "QueueStatus"),
    ("get", "/api/events/{event_id}/draw"): (None, "Draw"),
    ("post", "/api/events/{event_id}/holds"): ("HoldRequest", "Hold"),
    ("post", "/api/holds/{hold_id}/checkout"): ("CheckoutRequest", "Order"),
    ("post", "/api/holds/{hold_id}/payment"): ("PaymentRequest", "PaymentStarted"),
    ("put", "/api/admin/payment-account"): ("PaymentAccountRequest", "PaymentAccount"),
    ("get", "/api/admin/payment-account"): (None, "PaymentAccount"),
    ("get", "/api/orders/{order_id}"): (None, "Order"),
    ("post", "/api/admin/events/{event_id}/door-keys"): ("DoorKeyRequest", "DoorKeyCreated"),
    ("get", "/api/admin/events/{event_id}/door-keys"): (None, "DoorKeys"),
    ("get", "/api/admin/events/{event_id}/door"): (None, "DoorReport"),
    ("post", "/api/admin/orders/{order_id}/resend"): (None, "Resent"),
    ("post", "/api/door/scan"): ("ScanRequest", "Scan"),
    ("get", "/api/door/bundle"): (None, "DoorBundle"),
}

# The websocket of the waiting room (OpenAPI has no words for it): its
# messages and close codes, as API.md writes them.
WEBSOCKETS: dict[str, Any] = {
    "/ws/events/{event_id}/queue": {
        "query": {"token": "the queue token"},
        "messages": {
            "status": obj(
                ("type", "state"),
                type=enum("status"),
                state=QUEUE_STATE,
                position=nullable(INT),
                ahead=INT,
                eta_seconds=INT,
                eta_p90_seconds=INT,  # extension
                likely_sold_out=BOOL,  # extension
                all_held=BOOL,  # extension: every place left is held
                next_release_seconds=INT,  # extension: until the earliest hold ends
                number=INT,  # extension
                ts=INT,  # extension: Redis' clock at the push (ms)
            ),
            "admitted": obj(
                ("type", "access_token", "access_expires_at"),
                type=enum("admitted"),
                access_token=STRING,
                access_expires_at=TIME,
            ),
            "closed": obj(
                ("type", "reason"),
                type=enum("closed"),
                reason=enum("sold_out", "away", "session_ended", "lost"),
            ),
        },
        "close_codes": {
            "1000": "the last message was sent",
            "1013": "a backend is unavailable: reconnect with the same token (extension)",
            "4401": "bad token",
            "4404": "unknown event",
        },
    }
}
