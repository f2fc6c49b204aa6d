"""A NUL character (U+0000) in a usage event is refused by name, never a 500.

PostgreSQL refuses it in every text column, so before this it surfaced as a database error (found by
schemathesis on the usage-events API, on PostgreSQL only); SQLite stored it silently.
"""

from __future__ import annotations


def test_a_usage_event_with_a_nul_in_its_id_or_user_is_refused_by_name(reseller_api, acme):
    def event(event_id: str, user: str) -> dict[str, object]:
        return {
            "id": event_id,
            "client": "acme",
            "product": "desktop",
            "action": "start",
            "at": "2026-10-03T09:00:00Z",
            "user": user,
        }

    answer = reseller_api.post(
        "/usage-events", {"events": [event("e-\x00", "a@acme.example"), event("e-2", "b\x00@acme.example")]}
    )

    # The API's own convention: a 422 that names each event's problem (a 500 on PostgreSQL before).
    assert answer.status_code == 422
    fields = answer.get_json()["error"]["fields"]
    assert "without control characters" in fields["events[0]"]
    assert "“user”" in fields["events[1]"]
