"""Request and response models are built on first use, not at start-up (services/schemas.py).

Building the ~60 validators at import was a sixth of a start. Built lazily, the first requests
of a just-started service arrive on several waitress threads at once: each must validate as a
model built at import would, whichever thread builds it.
"""

from __future__ import annotations

import json

from tests.procs import run_json, start_script, started_once

# Each case: (module, model, payload); valid and invalid payloads, strict and lax bases,
# ignored and forbidden unknown fields, nested models and the email check.
CASES = [
    ("services.schemas", "UserCreate", {"email": "a@example.com", "password": "p" * 8, "x": 1}),
    ("services.schemas", "UserCreate", {"email": "a@example.test", "password": "p" * 8}),
    ("services.schemas", "UserCreate", {"email": "a@example.com", "password": "short"}),
    ("services.schemas", "ItemCreate", {"title": "t", "description": None, "owner_id": "x"}),
    ("services.schemas", "ItemCreate", {"title": 5}),
    ("services.schemas", "PageQuery", {"skip": "3", "limit": "10"}),
    ("services.schemas", "PageQuery", {"skip": "3", "unknown": "1"}),
    ("services.schemas", "UserUpdateMe", {"email": "b@example.com", "full_name": "B"}),
    (
        "services.sync.schemas",
        "SyncRequest",
        {
            "client_id": "c1",
            "operations": [
                {
                    "id": "o1",
                    "table": "item",
                    "operation": "INSERT",
                    "data": {"title": "t"},
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            ],
        },
    ),
    ("services.sync.schemas", "SyncRequest", {"client_id": "c1", "operations": [{"id": 1}]}),
    (
        "services.appdb.definition",
        "ModelIn",
        {"id": "m", "name": "M", "definition": {"entities": [{"name": "a", "fields": []}]}},
    ),
    ("services.appdb.definition", "ModelIn", {"id": "m", "name": "M", "definition": {}}),
]

SCRIPT = """
import importlib, json, sys, threading
from pydantic import ValidationError

cases = json.loads(sys.argv[1])
models = [getattr(importlib.import_module(m), name) for m, name, _ in cases]
unbuilt = [m.__name__ for m in models if m.__pydantic_complete__]

def answer(model, payload):
    try:
        return ["ok", model.model_validate(payload).model_dump(mode="json")]
    except ValidationError as error:
        return ["invalid", sorted([list(map(str, e["loc"])), e["type"]] for e in error.errors())]

threads, answers = 16, {}
barrier = threading.Barrier(threads)

def first_use(n):
    barrier.wait()
    answers[n] = [answer(model, case[2]) for model, case in zip(models, cases)]

workers = [threading.Thread(target=first_use, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
built = [answer(model, case[2]) for model, case in zip(models, cases)]
print(json.dumps({"built_at_import": unbuilt, "threads": answers, "built": built}))
"""


def test_models_first_used_by_many_threads_at_once_answer_as_built_models_do():
    for _ in range(3):  # each a new process: the models start unbuilt
        result = run_json(SCRIPT, json.dumps(CASES))
        assert result["built_at_import"] == []
        assert len(result["threads"]) == 16
        for answers in result["threads"].values():
            assert answers == result["built"]
    # The answers themselves: what the contracts say (and not a base model's lax validation).
    kinds = [answer[0] for answer in result["built"]]
    assert kinds == ["ok", "invalid", "invalid", "ok", "invalid", "ok", "invalid", "ok"] + [
        "ok",
        "invalid",
        "ok",
        "invalid",
    ]
    assert "x" not in result["built"][0][1] and "owner_id" not in result["built"][3][1]
    assert result["built"][6][1] == [[["unknown"], "extra_forbidden"]]


def test_a_started_service_has_built_no_model_and_loaded_no_email_validator(tmp_path):
    started_once(tmp_path)
    script = start_script(tmp_path) + (
        "from services.schemas import Schema\n"
        "from app import create_app\n"
        "app = create_app(settings)\n"
        "def models(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from models(sub)\n"
        "built = sorted({m.__name__ for m in models(Schema) if m.__pydantic_complete__})\n"
        "email = 'email_validator' in sys.modules\n"
        "client = app.test_client()\n"
        "made = client.post('/api/v1/users/', json={'email': 'b@example.com',"
        " 'password': 'p' * 8}).status_code\n"
        "bad = client.post('/api/v1/users/', json={'email': 'b@example.test',"
        " 'password': 'p' * 8}).status_code\n"
        "print(json.dumps([built, email, made, bad, 'email_validator' in sys.modules]))\n"
    )
    assert run_json(script) == [[], False, 200, 422, True]
