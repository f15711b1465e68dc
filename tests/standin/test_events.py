"""The event log: Stripe's event shape, newest first, with cursors and filters."""

from __future__ import annotations

import stripe

from conservancy.standin import StandIn
from tests.standin.flows import paid_charge


def test_events_page_newest_first_and_auto_paging_reaches_them_all(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    for _ in range(3):
        paid_charge(stripe_client, standin)
    emitted = [e["id"] for e in standin.store.events()]
    assert len(emitted) > 5

    first = stripe_client.v1.events.list({"limit": 2})
    assert [e.id for e in first.data] == emitted[:2]
    assert first.has_more is True
    second = stripe_client.v1.events.list({"limit": 2, "starting_after": first.data[-1].id})
    assert [e.id for e in second.data] == emitted[2:4]
    back = stripe_client.v1.events.list({"limit": 2, "ending_before": second.data[0].id})
    assert [e.id for e in back.data] == emitted[:2]

    assert [e.id for e in first.auto_paging_iter()] == emitted
    last = stripe_client.v1.events.list({"limit": 100})
    assert last.has_more is False
    assert last.url == "/v1/events"


def test_events_filter_by_type_and_creation_time(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 100})
    refunded = stripe_client.v1.events.list({"type": "charge.refunded"})
    assert [e.type for e in refunded.data] == ["charge.refunded"]
    charges = stripe_client.v1.events.list({"type": "charge.*"})
    assert {e.type for e in charges.data} == {"charge.refunded", "charge.succeeded"}
    newest = refunded.data[0].created
    later = stripe_client.v1.events.list({"created": {"gt": newest}})
    assert later.data == []
    since = stripe_client.v1.events.list({"created": {"gte": newest}, "limit": 100})
    assert refunded.data[0].id in {e.id for e in since.data}


def test_an_event_holds_the_object_as_it_was_then(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 100})
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 200})
    events = stripe_client.v1.events.list({"type": "charge.refunded"}).data
    assert [e.data.object["amount_refunded"] for e in events] == [300, 100]
    fetched = stripe_client.v1.events.retrieve(events[1].id)
    assert fetched.data.object["amount_refunded"] == 100
    assert fetched.api_version == stripe.api_version
    assert fetched.request is not None
    assert fetched.request.id is not None
    assert fetched.request.id.startswith("req_")
