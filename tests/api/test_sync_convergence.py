"""Convergence: three offline clients editing shared rows end with the server's copy, whatever
order their batches arrive in, duplicated or not, and that copy is what applying every operation
once in (timestamp, client_id, operation id) order gives.

A Hypothesis state machine drives the clients through the real HTTP API (auth on, one user per
example, so each example's feed holds only its own rows). STRESS_SYNC_EXAMPLES raises the number
of examples for ``make stress``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.api.conftest import API, new_user

EXAMPLES = int(os.environ.get("STRESS_SYNC_EXAMPLES", "12"))
CLIENTS = ("alpha", "beta", "gamma")
ROWS = 4
BASE = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)


@dataclass
class Client:
    """An offline client: its copy of the server's rows, its cursor, its queue of operations."""

    name: str
    mirror: dict[str, dict] = field(default_factory=dict)
    cursor: str | None = None
    outbox: list[dict] = field(default_factory=list)
    sent: list[list[dict]] = field(default_factory=list)


def reference(ops: list[tuple[str, dict]]) -> dict[str, dict]:
    """Every distinct operation applied once in (timestamp, client_id, id) order."""
    unique = {(client, o["id"]): (client, o) for client, o in ops}
    rows: dict[str, dict] = {}
    for _client, o in sorted(
        unique.values(), key=lambda co: (co[1]["timestamp"], co[0], co[1]["id"])
    ):
        row_id = o["data"]["id"]
        if o["operation"] == "DELETE":
            rows.pop(row_id, None)
        else:
            rows[row_id] = {
                "title": o["data"]["title"],
                "description": o["data"].get("description"),
            }
    return rows


class SyncMachine(RuleBasedStateMachine):
    """Random edits, sends, lost answers, duplicates and reorderings across three clients."""

    def __init__(self, client, headers) -> None:
        super().__init__()
        self.http, self.headers = client, headers
        self.clients = {name: Client(name) for name in CLIENTS}
        self.rows = [str(uuid.uuid4()) for _ in range(ROWS)]
        self.made: list[tuple[str, dict]] = []
        self.next_op = 0

    def post(self, body: dict) -> dict:
        response = self.http.post(f"{API}/sync", json=body, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def pull(self, client: Client, batch: list[dict] | None = None, *, keep: bool = True) -> dict:
        """One sync request; unless the answer is lost, the client takes its changes."""
        body = {"client_id": client.name, "operations": batch or [], "limit": 5}
        if client.cursor:
            body["cursor"] = client.cursor
        out = self.post(body)
        if keep:
            sent_ids = {o["id"] for o in batch or []}
            answered = set(out["changes_applied"]) | {c["operation_id"] for c in out["conflicts"]}
            assert answered == sent_ids
            if out["reset"]:
                client.mirror.clear()
            for change in out["changes"]:
                if change["operation"] == "DELETE":
                    client.mirror.pop(change["id"], None)
                else:
                    data = change["data"]
                    client.mirror[change["id"]] = {
                        "title": data["title"],
                        "description": data["description"],
                    }
            client.cursor = out["cursor"]
        return out

    @rule(
        name=st.sampled_from(CLIENTS),
        row=st.integers(0, ROWS - 1),
        kind=st.sampled_from(["INSERT", "UPDATE", "DELETE"]),
        title=st.text(
            st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
            min_size=1,
            max_size=8,
        ),
        description=st.none() | st.sampled_from(["", "x", "longer text"]),
        second=st.integers(0, 40),
    )
    def edit(self, name, row, kind, title, description, second):
        """A client changes a shared row while offline (timestamps may tie across clients)."""
        self.next_op += 1
        data = {"id": self.rows[row]}
        if kind != "DELETE":
            data |= {"title": title, "description": description}
        operation = {
            "id": f"op{self.next_op}",
            "table": "items",
            "operation": kind,
            "data": data,
            "timestamp": (BASE + timedelta(seconds=second)).isoformat(),
        }
        client = self.clients[name]
        client.outbox.append(operation)
        self.made.append((name, operation))

    @precondition(lambda self: any(c.outbox for c in self.clients.values()))
    @rule(name=st.sampled_from(CLIENTS), data=st.data(), lose_answer=st.booleans())
    def send(self, name, data, lose_answer):
        """Send some queued operations, in any order (the answer may be lost on the way back)."""
        client = self.clients[name]
        if not client.outbox:
            return
        picks = data.draw(
            st.lists(
                st.sampled_from(range(len(client.outbox))),
                min_size=1,
                max_size=len(client.outbox),
                unique=True,
            )
        )
        batch = [client.outbox[i] for i in picks]
        client.outbox = [o for i, o in enumerate(client.outbox) if i not in set(picks)]
        client.sent.append(batch)
        self.pull(client, batch, keep=not lose_answer)

    @precondition(lambda self: any(c.sent for c in self.clients.values()))
    @rule(name=st.sampled_from(CLIENTS), data=st.data())
    def resend(self, name, data):
        """Send an earlier batch again (a retry after a lost answer, or a duplicate delivery)."""
        client = self.clients[name]
        if client.sent:
            self.pull(client, data.draw(st.sampled_from(client.sent)))

    @rule(name=st.sampled_from(CLIENTS))
    def catch_up(self, name):
        """Pull the feed without sending anything."""
        self.pull(self.clients[name])

    @invariant()
    def mirrors_hold_only_server_rows(self):
        """A client never holds a row the server never had."""
        for client in self.clients.values():
            assert set(client.mirror) <= set(self.rows)

    def teardown(self):
        """Deliver everything, let every client catch up, and compare all copies."""
        for client in self.clients.values():
            if client.outbox:
                client.sent.append(client.outbox)
                self.pull(client, client.outbox)
                client.outbox = []
        for client in self.clients.values():
            while self.pull(client)["has_more"]:
                pass
        expected = reference(self.made)
        server = {}
        for row_id in self.rows:
            response = self.http.get(f"{API}/items/{row_id}", headers=self.headers)
            if response.status_code == 200:
                item = response.get_json()
                server[row_id] = {"title": item["title"], "description": item["description"]}
            else:
                assert response.status_code == 404
        assert server == expected
        for client in self.clients.values():
            assert client.mirror == server, client.name


def test_three_offline_clients_converge(make_client):
    client = make_client(auth_required=True)

    def machine():
        # A user of its own per example: the feed then holds only this example's rows.
        _, headers = new_user(client)
        return SyncMachine(client, headers)

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
