"""Hostile input into every string field, query parameter, path id and identifier of every
operation in the OpenAPI document, on every backend.

Each request must get a JSON answer below 500. The oracle (tests/harness/common.py) counts
the rows of every table of the main database and of every app database, straight from SQL,
before and after each request:

* a 4xx must have changed nothing at all;
* a 2xx must be explained: a read changes nothing, and a write must change exactly what the
  same request with benign values changed (the hostile value was stored as plain data); when
  the answer echoes a field that was sent, it must be the value sent, byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.harness.common import (
    FULL,
    SEED,
    Operation,
    Oracle,
    delta,
    error_shape_ok,
    iter_dicts,
    iter_leaves,
    operations,
    replaced,
    report,
    shape,
    with_key,
)
from tests.harness.corpus import NAN, OTHERS, STRINGS, Request, path_value, valid_body, valid_query
from tests.harness.world import ENTITY, Account, World

# Values tried per injection point: the whole corpus in the full run; in the fast slice a
# seeded sample (two on SQLite, one on the servers, where every model is a new database).
PER_POINT = {"sqlite": None if FULL else 2, "server": None if FULL else 1}
TAGS = sorted({(op.spec.get("tags") or ["untagged"])[0] for op in operations()})


# Findings in code this harness may not change, each pinned by a regression test
# in tests/harness/test_regressions.py: (operation, text in the finding) -> that test.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _known(finding: str) -> bool:
    return any(finding.startswith(op + " ") and text in finding for op, text in KNOWN_BUGS)


@dataclass
class Outcome:
    """What the baseline (benign) request of an operation did."""

    status: int
    change: list


@dataclass
class Run:
    """One test's state: the world, the oracle, the acting superuser and the findings."""

    world: World
    oracle: Oracle
    actor: Account
    shared: Account
    per_point: int | None = None
    last: str = ""
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


def _sample(names: list[str], key: str, per_point: int | None) -> list[str]:
    if per_point is None or len(names) <= per_point:
        return names
    return random.Random(f"{SEED}:{key}").sample(names, per_point)


def _fill_path(run: Run, op: Operation, *, fresh: bool) -> dict[str, str]:
    """Real ids for the path; the object a DELETE consumes is made anew when ``fresh``."""
    params = op.parameters("path")
    values: dict[str, str] = {}
    model_id, row_id = run.shared.model_id, run.shared.row_id
    for i, param in enumerate(params):
        name, last = param["name"], i == len(params) - 1
        make = fresh and last
        if name == "user_id":
            values[name] = run.world.new_user().id if make else run.shared.id
        elif name == "model_id":
            if make:
                model_id, row_id = run.world.new_model(run.actor)
            values[name] = model_id
        elif name == "entity_type":
            values[name] = ENTITY
        elif name == "id" and "/entities/" in op.path:
            values[name] = run.world.new_row(run.actor, model_id) if make else row_id
        elif name == "id":
            values[name] = run.world.new_item(run.actor) if make else run.shared.item_id
        else:
            values[name] = "x"
    return values


def _template(run: Run, op: Operation, *, fresh: bool) -> Request:
    path = _fill_path(run, op, fresh=fresh)
    body, form = valid_body(op, run.world, run.actor, path)
    return Request(op, path, valid_query(op), body, form)


def _after(run: Run, op: Operation, request: Request, response) -> None:
    # Keep acting as the superuser when a request legitimately ended its session.
    if not 200 <= response.status_code < 300:
        return
    if op.operation_id == "users-update_password_me":
        run.actor.password = request.body["new_password"]
        run.world.relogin(run.actor)
    elif op.operation_id == "login-logout":
        run.world.relogin(run.actor)
    elif op.operation_id == "users-update_user_me":
        run.actor.email = response.get_json()["email"]


def _explained(effect: list, benign: list) -> bool:
    """The hostile request touched only what the benign one touched, the same way, and changed
    the main database's tables by exactly as many rows (app databases' counts depend on what
    they held: a seed replaces rows, a dropped database takes all of them)."""
    expected = dict(benign)
    for table, n in effect:
        b = expected.get(table, 0)
        if (n > 0) != (b > 0) or (n < 0) != (b < 0):
            return False
        if not table.startswith(("apps/", "appschema.", "appdb.")) and n != b:
            return False
    return True


def _json_type(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), "null")


def _send(
    run: Run,
    op: Operation,
    request: Request,
    label: str,
    baseline: Outcome | None,
    twin: Callable[[], Request] | None = None,
):
    before = run.oracle.counts()
    run.last = f"{op.label} {label}"
    response = request.send(run.world, run.actor)
    after = run.oracle.counts()
    run.sent += 1
    status = response.status_code
    run.statuses[str(status)] = run.statuses.get(str(status), 0) + 1
    where = f"{op.label} {label}: {status} {response.get_data(as_text=True)[:200]!r}"
    body = response.get_json(silent=True)
    change = delta(before, after)
    if status >= 500 or (body is None and status != 204):
        run.failures.append(f"{where} (not a JSON answer below 500)")
    elif 400 <= status < 500:
        if not error_shape_ok(body):
            run.failures.append(f"{where} (not the error shape)")
        if change:
            run.failures.append(f"{where} refused, yet changed {change}")
    elif 200 <= status < 300 and baseline is not None:
        _after(run, op, request, response)
        if op.method == "GET" and change:
            run.failures.append(f"{where} a read changed {change}")
        elif baseline.status >= 300:
            run.failures.append(f"{where} accepted, yet the benign request got {baseline.status}")
        elif not _explained(shape(change), baseline.change):
            # The effect may depend on the state (a seed replaces rows): the same request with
            # benign values, sent right after, must do the same thing.
            twin_change = _send(run, op, twin(), "twin", None)[1] if twin is not None else None
            if twin_change is None or not _explained(shape(change), shape(twin_change)):
                run.failures.append(
                    f"{where} accepted with effect {shape(change)}; benign "
                    f"request: {baseline.change}, benign twin: {twin_change}"
                )
        return response, change
    elif not 200 <= status < 300:
        run.failures.append(f"{where} (unexpected status)")
    _after(run, op, request, response)
    return response, change


def _points(op: Operation, request: Request) -> list[tuple[str, str, object]]:
    """(kind, where, value-key) injection points of a request, with the values to try there."""
    points: list[tuple[str, str, object]] = []
    for name in request.path_params:
        points.append(("path", name, None))
    for name in request.query:
        points.append(("query", name, None))
    points.append(("query-key", "", None))
    if request.form is not None:
        for name in request.form:
            points.append(("form", name, None))
        points.append(("form-key", "", None))
    if request.body is not None:
        for path, value in iter_leaves(request.body):
            points.append(("leaf", json.dumps(path), value))
        for path, _ in iter_dicts(request.body):
            points.append(("key", json.dumps(path), None))
    return points


def _values_for(kind: str, original: object) -> dict[str, object]:
    if kind == "leaf" and not isinstance(original, str):
        return {**OTHERS, **{k: STRINGS[k] for k in ("quote", "nul", "2^90", "64kb")}, NAN: NAN}
    if kind == "leaf":
        return {**STRINGS, "int-2^90": OTHERS["int-2^90"], NAN: NAN}
    return dict(STRINGS)


def _inject(request: Request, kind: str, where: str, value: object) -> Request:
    if kind == "path":
        return Request(
            request.op,
            {**request.path_params, where: path_value(str(value))},
            request.query,
            request.body,
            request.form,
        )
    if kind == "query":
        return Request(
            request.op,
            request.path_params,
            {**request.query, where: str(value)},
            request.body,
            request.form,
        )
    if kind == "query-key":
        return Request(
            request.op,
            request.path_params,
            {**request.query, str(value): "1"},
            request.body,
            request.form,
        )
    if kind == "form":
        return Request(
            request.op,
            request.path_params,
            request.query,
            None,
            {**request.form, where: str(value)},
        )
    if kind == "form-key":
        return Request(
            request.op, request.path_params, request.query, None, {**request.form, str(value): "1"}
        )
    path = tuple(json.loads(where))
    if kind == "key":
        return Request(
            request.op,
            request.path_params,
            request.query,
            with_key(request.body, path, str(value), "x"),
        )
    if value == NAN:
        marker = "__harness_nan__"
        raw = json.dumps(replaced(request.body, path, marker)).replace(f'"{marker}"', "NaN")
        return Request(request.op, request.path_params, request.query, raw=raw.encode())
    return Request(
        request.op, request.path_params, request.query, replaced(request.body, path, value)
    )


def _whole_bodies(request: Request) -> dict[str, bytes]:
    """Malformed bodies as a whole: deep nesting, a duplicate key, a JSON string, bad UTF-8."""
    text = json.dumps(request.body)
    first = next(iter(request.body)) if isinstance(request.body, dict) and request.body else "k"
    return {
        "nested-30000": b"[" * 30000 + b"]" * 30000,
        "nested-objects": b'{"a":' * 30000 + b"1" + b"}" * 30000,
        "duplicate-key": ("{" + json.dumps(first) + ': "first", ' + text[1:]).encode()
        if text.startswith("{")
        else text.encode(),
        "json-string": json.dumps(text).encode(),
        "invalid-utf8": text.encode()[:-1] + b'\xff"}' if text.endswith("}") else b"\xff",
    }


def _echo_ok(response, kind: str, where: str, value: object) -> bool:
    # A field stored as data comes back as sent (top-level fields of the answer only).
    if kind != "leaf" or not isinstance(value, str):
        return True
    path = json.loads(where)
    body = response.get_json(silent=True)
    if len(path) != 1 or not isinstance(body, dict) or path[0] not in body:
        return True
    return body[path[0]] == value


def _check_filter(run: Run, op: Operation, response, kind: str, where: str, value: object) -> None:
    # ``<field>.contains=<v>`` must match the literal text: '%' and '_' are not wildcards.
    if kind != "query" or not where.endswith(".contains") or response.status_code != 200:
        return
    name = where.removesuffix(".contains")
    for row in response.get_json().get("data", []):
        if str(value) not in str(row.get(name, "")):
            run.failures.append(f"{op.label} {where}={value!r} matched {row.get(name)!r}")


def _check_shared(run: Run, op: Operation) -> None:
    # The shared objects outlive every request that does not target them on purpose: one that
    # vanished was deleted by a request that should not have.
    shared = run.shared
    for path in (f"/items/{shared.item_id}", f"/models/{shared.model_id}"):
        if run.world.call("GET", path, run.actor).status_code != 200:
            run.failures.append(f"before {op.label}: {path} is gone (after {run.last})")
            shared.item_id = run.world.new_item(run.actor)
            shared.model_id, shared.row_id = run.world.new_model(run.actor)
            return
    # Rows of the shared model may go legitimately (a seed replaces them): make a new one.
    row = f"/models/{shared.model_id}/app-database/entities/{ENTITY}/{shared.row_id}"
    if run.world.call("GET", row, run.actor).status_code != 200:
        shared.row_id = run.world.new_row(run.actor, shared.model_id)


def _attack(run: Run, op: Operation) -> None:
    _check_shared(run, op)
    fresh = op.method == "DELETE"
    template = _template(run, op, fresh=fresh)
    response, change = _send(run, op, template, "benign", None)
    baseline = Outcome(response.status_code, shape(change))
    for kind, where, original in _points(op, template):
        values = _values_for(kind, original)
        for name in _sample(sorted(values), f"{op.label}:{kind}:{where}", run.per_point):
            value = values[name]
            # A fresh request per value: unique emails and ids, and a new object to delete.
            request = _template(run, op, fresh=fresh and kind != "path")
            attacked = _inject(request, kind, where, value)
            label = f"{kind}:{where}={name}"

            def twin() -> Request:
                # Benign values throughout: a DELETE's twin needs an object of its own.
                return _template(run, op, fresh=fresh)

            response, _ = _send(run, op, attacked, label, baseline, twin)
            if not 200 <= response.status_code < 300:
                continue
            if not _echo_ok(response, kind, where, value):
                run.failures.append(f"{op.label} {label}: stored {value!r} came back changed")
            if (
                kind == "leaf"
                and None not in (original, value)
                and _json_type(value) != _json_type(original)
            ):
                run.failures.append(
                    f"{op.label} {label}: a {_json_type(value)} where the valid "
                    f"request has a {_json_type(original)} was accepted"
                )
            _check_filter(run, op, response, kind, where, value)
    if template.body is not None:
        for name, raw in _whole_bodies(template).items():
            request = _template(run, op, fresh=fresh)
            _send(
                run,
                op,
                Request(op, request.path_params, request.query, raw=raw),
                f"body={name}",
                baseline,
            )


@pytest.mark.parametrize("tag", TAGS)
def test_hostile_input_is_refused_and_changes_nothing(
    make_client, migrated_target, tmp_path, tag, request
):
    client = make_client(auth_required=True)
    world = World(client.app)
    shared = world.new_user(populated=True)
    # The acting superuser owns objects of its own too; ``shared`` is whom the ids belong to.
    oracle = Oracle(migrated_target, tmp_path)
    family = migrated_target.family
    run = Run(
        world,
        oracle,
        world.admin,
        shared,
        per_point=PER_POINT["sqlite" if family == "sqlite" else "server"],
    )
    ops = [op for op in operations() if ((op.spec.get("tags") or ["untagged"])[0]) == tag]
    try:
        for op in ops:
            _attack(run, op)
    finally:
        oracle.close()
        known = [f for f in run.failures if _known(f)]
        run.failures = [f for f in run.failures if not _known(f)]
        report(
            "hostile-corpus",
            request.node.nodeid,
            cases=run.sent,
            failures=len(run.failures),
            known_bugs=len(known),
            statuses=run.statuses,
            operations=len(ops),
        )
    assert ops and run.sent > len(ops)
    assert not run.failures, f"{len(run.failures)} of {run.sent}:\n" + "\n".join(run.failures[:40])
