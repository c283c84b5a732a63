"""Seed an app database with plausible rows: deterministic, all-or-nothing, at any size.

How it stays fast and small:

* Faker (``use_weighting=False``) fills small pools of values once per run (names, cities,
  sentences, ...); rows then sample the pools with seeded ``random.Random`` streams, one stream per
  column, so a column's values depend only on the seed, the definition and the row count.
* A row's id and creation time are functions of its index (see IdSpace): version 7 UUIDs that
  rise with the index, from a bijection of it, so ids never collide and a reference to any parent
  row is computed, not remembered; only encoded ids of referenced entities are cached, up to a
  fixed budget. Memory stays flat whatever the row count; the same seed gives the same ids.
* Every value is encoded as the PyDAL field's driver parameter (custom types' encoders, see
  services/db/statements.py ``param_encoder``; pool values once each) and bound to multi-row INSERTs
  built from the table's PyDAL fields (``ROWS_PER_STATEMENT`` rows each, so SQLite compiles one
  statement per table and reuses it) run with ``db.executesql`` on PyDAL's connection, in one
  transaction: committed at the end, rolled back on any error. No value is quoted into SQL.
* Rows sample their pools in shuffled passes, and a row's name fields and email describe one
  person (see Persona), so small seeds do not repeat values and rows look consistent.

References: parents are seeded first (referenced entities before referencing ones). A
self-reference points at an earlier row (a required one at a root row that references itself); an
optional reference inside a cycle of entities is inserted NULL and filled once its target exists;
a cycle of required references cannot be seeded and is refused. A reference to an entity that is
not being seeded points at that entity's existing rows. ManyToMany join rows link each new row of
the ``from`` entity to 0-3 distinct rows of the ``to`` entity.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any

from pydal import DAL

from services.appdb.definition import Definition
from services.appdb.fakes import (
    PERSON_KINDS,
    RETRIES,
    Ctx,
    Gen,
    IdSpace,
    Pools,
    available_locales,
    coprime_step,
    hint_for,
    pool_gen,
    rng,
    unique_raw,
    value_pool,
)
from services.appdb.rows import (
    clash,
    delete_all,
    family_of,
    table_of,
)
from services.appdb.schema import STRING_LENGTH, Column, JoinTable, entity_columns, join_tables
from services.db import feed
from services.db.statements import is_integrity_error, param_encoder, placeholder
from services.errors import Problems, problem

DEFAULT_COUNT = 5
CHUNK_ROWS = 1000  # rows generated at a time (and per progress report)
# Rows per multi-row INSERT (fewer for wide tables: at most MAX_PARAMS bound values, well under
# SQLite's 32,766). Every full statement of a table has the same text, so SQLite's driver compiles
# it once and keeps it in its statement cache; 100 rows measured faster there than 500.
ROWS_PER_STATEMENT = 100
MAX_PARAMS = 10_000
POOL_MAX = 1000  # values per Faker pool
EXISTING_MAX = 100_000  # ids of an entity not being seeded, loaded for references to it
ID_CACHE_MAX = 250_000  # encoded ids kept for references, over all entities (~25 MB at most)
MAX_LINKS_PER_ROW = 3
FILL_CHUNK = 500  # rows per UPDATE that fills deferred references
_ROOT_SHARE = 10  # a required self-reference: one row in ten is a root


# --------------------------------------------------------------------------- one entity's plan


@dataclass
class RefPlan:
    """How one Reference column of a seeded entity is filled."""

    column: Column
    mode: str  # "new", "existing", "self", "deferred", "null"
    unique: bool
    required: bool


@dataclass
class EntityJob:
    """One entity to seed."""

    name: str
    count: int
    offset: int
    columns: list[Column]
    refs: dict[str, RefPlan] = field(default_factory=dict)


class _Counter:
    def __init__(self, total: int, progress: Callable[[int, int], Any] | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


def _ref_gen(ctx: Ctx, job: EntityJob, plan: RefPlan, links: list[int]) -> Gen:
    """Encoded ids for a Reference column (None: NULL), counting the others into ``links``."""
    column = plan.column
    r = rng(ctx.seed, "ref", job.name, column.name)
    if plan.mode in ("null", "deferred"):
        return lambda start, k: [None] * k
    if plan.mode == "self":
        space = ctx.ids[job.name]
        off = job.offset
        roots = max(1, math.ceil(job.count / _ROOT_SHARE))

        def self_ref(start: int, k: int) -> list[str | None]:
            out = []
            for local in range(start, start + k):
                if plan.unique:
                    j = local if plan.required else local - 1
                elif plan.required:
                    j = local if local < roots else r.randrange(roots)
                else:
                    j = r.randrange(local) if local else -1
                out.append(space.literal(off + j) if j >= 0 else None)
            links[0] += len(out) - out.count(None)
            return out

        return self_ref
    pick = _parent_picker(ctx, job, plan, r)

    def ref(start: int, k: int) -> list[str | None]:
        out = [pick(local) for local in range(start, start + k)]
        links[0] += len(out) - out.count(None)
        return out

    return ref


def _parent_picker(
    ctx: Ctx, job: EntityJob, plan: RefPlan, r: Random
) -> Callable[[int], str | None]:
    """Local child row -> the encoded id of the parent it references (None: no parent)."""
    target = plan.column.target
    if plan.mode == "existing" or (plan.mode == "deferred" and target not in ctx.counts):
        literals = ctx.existing[target]
        n = len(literals)
        lit_at = literals.__getitem__
    else:
        space = ctx.ids[target]
        n = ctx.counts[target]
        toff = ctx.offsets[target]

        def lit_at(j: int) -> str:
            return space.literal(toff + j)

    if n == 0:
        return lambda local: None
    if plan.unique:
        step = coprime_step(n, r)
        shift = r.randrange(n)
        return lambda local: lit_at((local * step + shift) % n) if local < n else None
    rnd = r.random
    return lambda local: lit_at(int(rnd() * n))


# --------------------------------------------------------------------------- planning


def _seed_order(
    definition: Definition,
    names: list[str],
    jobs: dict[str, EntityJob],
) -> tuple[list[str], set[tuple[str, str]]]:
    """Seeded entities, parents first; optional references deferred where a cycle forces it."""
    edges = {
        n: [
            c
            for c in jobs[n].columns
            if c.type == "Reference" and c.target in jobs and c.target != n
        ]
        for n in names
    }
    placed: list[str] = []
    deferred: set[tuple[str, str]] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if all(c.target in placed for c in edges[n])]
        if ready:
            chosen = ready[0]
        else:
            optional_only = [
                n
                for n in remaining
                if all(not c.required for c in edges[n] if c.target not in placed)
            ]
            if not optional_only:
                cycle = ", ".join(
                    f"{n}.{c.name} -> {c.target}"
                    for n in remaining
                    for c in edges[n]
                    if c.required and c.target not in placed
                )
                raise Problems(
                    [
                        problem(
                            ["body", "specific_entities"],
                            f"required references form a cycle ({cycle}); "
                            "seed one of these entities first, or make one of the references "
                            "optional",
                            "reference_cycle",
                        )
                    ],
                    "cannot seed a cycle of required references",
                )
            chosen = optional_only[0]
            for c in edges[chosen]:
                if c.target not in placed:
                    deferred.add((chosen, c.name))
        placed.append(chosen)
        remaining.remove(chosen)
    return placed, deferred


def _check_args(
    definition: Definition, count: Any, specific: Any, seed: Any, locale: Any
) -> list[str]:
    problems = []
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        problems.append(
            problem(
                ["body", "max_instances_per_entity"], "must be a non-negative integer", "int_type"
            )
        )
    known = [e.name for e in definition.entities]
    names = known
    if specific:
        if isinstance(specific, str) or not isinstance(specific, Sequence):
            problems.append(
                problem(
                    ["body", "specific_entities"], "must be a list of entity names", "list_type"
                )
            )
        else:
            for i, name in enumerate(specific):
                if not isinstance(name, str) or name not in known:
                    problems.append(
                        problem(
                            ["body", "specific_entities", i],
                            f"unknown entity {name!r}",
                            "unknown_entity",
                        )
                    )
            wanted = {n for n in specific if isinstance(n, str)}
            names = [n for n in known if n in wanted]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.append(problem(["body", "seed"], "must be an integer", "int_type"))
    if not isinstance(locale, str) or locale not in available_locales():
        problems.append(
            problem(
                ["body", "locale"],
                "unknown locale (use one Faker knows, such as en_US, de_DE or ja_JP)",
                "unknown_locale",
            )
        )
    if problems:
        raise Problems(problems, "invalid seed request")
    return names


def _plan_refs(ctx: Ctx, jobs: dict[str, EntityJob], deferred: set[tuple[str, str]]) -> None:
    problems = []
    for job in jobs.values():
        for c in job.columns:
            if c.type != "Reference":
                continue
            if c.target == job.name:
                mode = "self"
            elif (job.name, c.name) in deferred:
                mode = "deferred"
            elif c.target in jobs:
                mode = "new"
            else:
                mode = "existing" if ctx.existing.get(c.target) else "null"
            plan = RefPlan(c, mode, c.unique, c.required)
            job.refs[c.name] = plan
            parents = (
                ctx.counts[c.target]
                if mode in ("new", "deferred", "self")
                else len(ctx.existing.get(c.target, ()))
            )
            loc = ["body", "specific_entities"]
            if c.required and mode == "null":
                problems.append(
                    problem(
                        loc,
                        f"{job.name}.{c.name} needs rows of {c.target}: seed {c.target} too",
                        "reference_needs_rows",
                    )
                )
            elif c.required and c.unique and mode != "self" and parents < job.count:
                problems.append(
                    problem(
                        loc,
                        f"{job.name}.{c.name} is unique and required: it "
                        f"needs {job.count} rows of {c.target}, there are "
                        f"{parents}",
                        "not_enough_rows",
                    )
                )
    if problems:
        raise Problems(problems, "cannot seed these entities")


def _column_gens(
    ctx: Ctx, job: EntityJob, field_types: dict[str, Any], links: list[int], preserve: bool
) -> tuple[list[Gen], list[tuple[int, Column, Callable]]]:
    """One generator per column (in table order) and the unique ones to check against rows."""
    represent = ctx.represent
    gens: list[Gen] = []
    checks: list[tuple[int, Column, Callable]] = []
    for column in job.columns:
        ftype = field_types[column.name]
        if column.type == "Reference":
            gens.append(_ref_gen(ctx, job, job.refs[column.name], links))
            continue
        hint = hint_for(job.name, column)
        if column.unique and column.type in ("Boolean", "Enum"):
            gens.append(_capacity_gen(ctx, job, column, ftype, preserve))
            continue
        if column.unique or (hint == "email" and column.type == "String"):
            # Emails always carry the row's index: two people may share a name, not an email.
            raw, capacity = unique_raw(ctx, job.name, column, hint)
            if capacity is not None and job.offset + job.count > capacity:
                raise Problems(
                    [
                        problem(
                            ["body", "max_instances_per_entity"],
                            f"{job.name}.{column.name} cannot take "
                            f"{job.offset + job.count} distinct values",
                            "too_many_rows",
                        )
                    ]
                )
            off, encode = job.offset, param_encoder(ftype)

            def unique_gen(start: int, k: int, raw=raw, encode=encode, off=off) -> list[Any]:
                return [encode(raw(off + local, 0)) for local in range(start, start + k)]

            if column.unique and preserve and job.offset:
                checks.append((len(gens), column, raw))
            gens.append(unique_gen)
            continue
        if hint in PERSON_KINDS and column.type in ("String", "Text"):
            gens.append(_persona_gen(ctx, job, hint, ftype))
            continue
        values = value_pool(ctx, job.name, column, hint)
        literals = [represent(v, ftype) for v in values]
        gens.append(pool_gen(rng(ctx.seed, "pick", job.name, column.name), literals))
    return gens, checks


def _persona_gen(ctx: Ctx, job: EntityJob, kind: str, ftype: Any) -> Gen:
    """A person field that agrees with the row's other person fields."""
    persona = ctx.persona(job.name)
    limit = STRING_LENGTH if ftype == "string" else None
    literals = [ctx.represent(persona.value(kind, p)[:limit], ftype) for p in range(persona.size)]
    index, off = persona.index, job.offset
    return lambda start, k: [literals[index(off + local)] for local in range(start, start + k)]


def _capacity_gen(ctx: Ctx, job: EntityJob, column: Column, ftype: Any, preserve: bool) -> Gen:
    """A unique Boolean or Enum: each value once, then NULL (refused upfront when required)."""
    values = [True, False] if column.type == "Boolean" else list(column.values or ())
    if preserve and job.offset:
        table = table_of(ctx.db, job.name)
        taken = {
            r[column.name]
            for r in ctx.db(table[column.name] != None).select(  # noqa: E711
                table[column.name], distinct=True
            )
        }
        values = [v for v in values if v not in taken]
    if column.required and job.count > len(values):
        raise Problems(
            [
                problem(
                    ["body", "max_instances_per_entity"],
                    f"{job.name}.{column.name} is unique and required: only "
                    f"{len(values)} more distinct values",
                    "too_many_rows",
                )
            ]
        )
    literals = [ctx.represent(v, ftype) for v in values]
    return lambda start, k: [
        literals[i] if i < len(literals) else None for i in range(start, start + k)
    ]


# --------------------------------------------------------------------------- writing


def _insert_many(db: DAL, table: Any, fields: list, params: list[Any]) -> None:
    """INSERT the rows whose values ``params`` holds one after another (len(fields) per row),
    as multi-row INSERTs of bound parameters built from the table's PyDAL fields."""
    width = len(fields)
    per = max(1, min(ROWS_PER_STATEMENT, MAX_PARAMS // width))
    mark = placeholder(db)
    one = "(" + ",".join([mark] * width) + ")"
    head = f"INSERT INTO {table._rname} ({','.join(f._rname for f in fields)}) VALUES "
    full = head + ",".join([one] * per)
    step = per * width
    for start in range(0, len(params), step):
        part = params[start : start + step]
        sql = full if len(part) == step else head + ",".join([one] * (len(part) // width))
        db.executesql(sql, placeholders=part)


def _resolve_clashes(
    ctx: Ctx,
    job: EntityJob,
    start: int,
    cols: list[list[Any]],
    checks: list[tuple[int, Column, Callable]],
    ftypes: dict[str, Any],
) -> None:
    """Give new values to unique values existing rows already hold (preserve_existing)."""
    table = table_of(ctx.db, job.name)
    for index, column, raw in checks:
        fld = table[column.name]
        attempt = {local: 0 for local in range(len(cols[index]))}
        pending = list(attempt)
        while pending:
            values = {local: raw(job.offset + start + local, attempt[local]) for local in pending}
            taken = {r[column.name] for r in ctx.db(fld.belongs(list(values.values()))).select(fld)}
            pending = [local for local, v in values.items() if v in taken]
            for local, v in values.items():
                if local not in pending:
                    cols[index][local] = ctx.represent(v, ftypes[column.name])
            for local in pending:
                attempt[local] += 1
                if attempt[local] > RETRIES:
                    raise clash(
                        [
                            problem(
                                ["body", "seed"],
                                f"{job.name}.{column.name}: existing rows hold "
                                "the values this seed makes; try another seed",
                                "unique",
                            )
                        ]
                    )


def _insert_entity(
    ctx: Ctx,
    job: EntityJob,
    counter: _Counter,
    links: list[int],
    preserve: bool,
    timing: dict[str, float],
) -> None:
    db = ctx.db
    table = table_of(db, job.name)
    names = ["id", "created_at", "updated_at", *(c.name for c in job.columns)]
    fields = [table[n] for n in names]
    ftypes = {f.name: f.type for f in fields}
    gens, checks = _column_gens(ctx, job, ftypes, links, preserve)
    space = ctx.ids[job.name]
    encode_stamp = param_encoder(ftypes["created_at"])
    epoch = datetime(1970, 1, 1)
    micro = timedelta(microseconds=1)
    off = job.offset
    for start in range(0, job.count, CHUNK_ROWS):
        t0 = time.perf_counter()
        k = min(CHUNK_ROWS, job.count - start)
        ids, created = space.rows(off + start, k)
        # Seeded rows were created one after another and never updated since.
        stamps = [encode_stamp(epoch + us * micro) for us in created]
        cols = [gen(start, k) for gen in gens]
        if checks:
            _resolve_clashes(ctx, job, start, cols, checks, ftypes)
        params = [v for values in zip(ids, stamps, stamps, *cols, strict=True) for v in values]
        t1 = time.perf_counter()
        _insert_many(db, table, fields, params)
        timing["generate"] += t1 - t0
        timing["sql"] += time.perf_counter() - t1
        counter.add(k)


def _fill_deferred(
    ctx: Ctx, job: EntityJob, plan: RefPlan, links: list[int], timing: dict[str, float]
) -> None:
    """Set a deferred reference now its target's rows exist: one UPDATE per FILL_CHUNK rows."""
    db = ctx.db
    table = table_of(db, job.name)
    fld = table[plan.column.name]
    space = ctx.ids[job.name]
    pick = _parent_picker(
        ctx,
        job,
        RefPlan(plan.column, "new", plan.unique, plan.required),
        rng(ctx.seed, "ref", job.name, plan.column.name),
    )
    mark = placeholder(db)
    then = f"CAST({mark} AS UUID)" if family_of(db) == "postgresql" else mark
    for start in range(0, job.count, FILL_CHUNK):
        t0 = time.perf_counter()
        k = min(FILL_CHUNK, job.count - start)
        pairs = [
            (space.literal(job.offset + local), pick(local)) for local in range(start, start + k)
        ]
        pairs = [(i, p) for i, p in pairs if p is not None]
        if not pairs:
            continue
        cases = " ".join([f"WHEN {mark} THEN {then}"] * len(pairs))
        sql = (
            f"UPDATE {table._rname} SET {fld._rname} = CASE {table.id._rname} {cases} END "
            f"WHERE {table.id._rname} IN ({','.join([mark] * len(pairs))})"
        )
        params = [v for pair in pairs for v in pair] + [i for i, _ in pairs]
        t1 = time.perf_counter()
        db.executesql(sql, placeholders=params)
        timing["generate"] += t1 - t0
        timing["sql"] += time.perf_counter() - t1
        links[0] += len(pairs)


def _link_counts(ctx: Ctx, join: JoinTable) -> Random:
    """The stream of how many targets each new source row links to."""
    return rng(ctx.seed, "links", join.name)


def _targets_of(ctx: Ctx, join: JoinTable) -> tuple[int, Callable[[int], str]]:
    if join.target in ctx.counts:
        space, toff = ctx.ids[join.target], ctx.offsets[join.target]
        return ctx.counts[join.target], lambda j: space.literal(toff + j)
    literals = ctx.existing.get(join.target, [])
    return len(literals), literals.__getitem__


def _planned_links(ctx: Ctx, join: JoinTable) -> int:
    n_targets, _ = _targets_of(ctx, join)
    most = min(MAX_LINKS_PER_ROW, n_targets)
    r = _link_counts(ctx, join)
    return sum(r.randint(0, most) for _ in range(ctx.counts[join.source])) if most else 0


def _insert_links(
    ctx: Ctx, join: JoinTable, counter: _Counter, links: list[int], timing: dict[str, float]
) -> None:
    db = ctx.db
    jt = table_of(db, join.name)
    n_targets, target_lit = _targets_of(ctx, join)
    most = min(MAX_LINKS_PER_ROW, n_targets)
    if not most:
        return
    how_many = _link_counts(ctx, join)  # the same stream _planned_links summed
    which = rng(ctx.seed, "link-targets", join.name)
    space, soff = ctx.ids[join.source], ctx.offsets[join.source]
    population = range(n_targets)
    n_sources = ctx.counts[join.source]
    for start in range(0, n_sources, CHUNK_ROWS):
        t0 = time.perf_counter()
        params: list[str] = []
        for local in range(start, min(n_sources, start + CHUNK_ROWS)):
            k = how_many.randint(0, most)
            if not k:
                continue
            source = space.literal(soff + local)
            for j in which.sample(population, k):
                params += (source, target_lit(j))
        t1 = time.perf_counter()
        _insert_many(db, jt, [jt.source_id, jt.target_id], params)
        timing["generate"] += t1 - t0
        timing["sql"] += time.perf_counter() - t1
        links[0] += len(params) // 2
        counter.add(len(params) // 2)


def _existing_ids(ctx: Ctx, entity: str) -> list[str]:
    """Up to EXISTING_MAX encoded ids of an entity's rows, in id order (deterministic)."""
    table = table_of(ctx.db, entity)
    rows = ctx.db(table.id != None).select(  # noqa: E711
        table.id, orderby=table.id, limitby=(0, EXISTING_MAX)
    )
    encode = param_encoder(table.id.type)
    return [encode(r.id) for r in rows]


# --------------------------------------------------------------------------- the entry point


def seed(
    *,
    db: DAL,
    definition: Definition,
    max_instances_per_entity: int = DEFAULT_COUNT,
    specific_entities: Sequence[str] | None = None,
    preserve_existing: bool = False,
    seed: int | None = None,
    locale: str = "en_US",
    progress: Callable[[int, int], Any] | None = None,
    stats: dict | None = None,
) -> dict[str, int]:
    """Fill the model's tables with generated rows in one transaction: committed, or rolled back."""
    started = time.perf_counter()
    names = _check_args(definition, max_instances_per_entity, specific_entities, seed, locale)
    if seed is None:
        seed = secrets.randbits(31)
    count = max_instances_per_entity
    timing = {"generate": 0.0, "sql": 0.0}
    links = [0]
    pools = Pools(seed, locale, max(1, min(POOL_MAX, count)))
    try:
        created = _seed_all(
            db,
            definition,
            names,
            count,
            bool(preserve_existing),
            seed,
            pools,
            progress,
            links,
            timing,
        )
        db.commit()
    except BaseException as exc:
        try:
            db.rollback()
        except Exception:  # noqa: BLE001 - a dead connection; the first error is the one to see
            pass
        if is_integrity_error(exc):
            raise clash(
                [
                    problem(
                        ["body", "seed"],
                        "seeded rows clash with existing rows "
                        "(ids or unique values); try another seed",
                        "unique",
                    )
                ]
            ) from None
        raise
    duration = time.perf_counter() - started
    if stats is not None:
        stats.update(
            faker_s=pools.faker_seconds,
            generate_s=timing["generate"],
            sql_s=timing["sql"],
            total_s=duration,
        )
    return {
        "entities_created": created,
        "relationships_created": links[0],
        "duration_ms": round(duration * 1000),
        "seed": seed,
    }


def _seed_all(
    db: DAL,
    definition: Definition,
    names: list[str],
    count: int,
    preserve: bool,
    seed: int,
    pools: Pools,
    progress: Callable[[int, int], Any] | None,
    links: list[int],
    timing: dict[str, float],
) -> int:
    if not preserve:
        delete_all(db, definition, names)
    if count == 0 or not names:
        return 0
    entities = {e.name: e for e in definition.entities}
    jobs: dict[str, EntityJob] = {}
    offsets: dict[str, int] = {}
    for name in names:
        offsets[name] = db(table_of(db, name).id != None).count() if preserve else 0  # noqa: E711
        jobs[name] = EntityJob(
            name, count, offsets[name], entity_columns(definition, entities[name])
        )
    order, deferred = _seed_order(definition, names, jobs)
    r = rng(seed, "time")
    total_rows = count * len(names)
    base = datetime(2021, 1, 1) + timedelta(seconds=r.randrange(3 * 365 * 86400))
    budget = [ID_CACHE_MAX]
    ctx = Ctx(
        db=db,
        seed=seed,
        pools=pools,
        represent=_represent,
        base=base,
        step_us=max(1, (30 * 86400 * 1_000_000) // max(1, count)),  # rows spread over ~30 days
        ids={},
        counts={n: count for n in names},
        offsets=offsets,
    )
    targets = {c.target for j in jobs.values() for c in j.columns if c.type == "Reference"}
    targets |= {jt.target for jt in join_tables(definition) if jt.source in jobs}
    for name in names:
        # Only ids that something will reference again are worth keeping encoded.
        ctx.ids[name] = IdSpace(
            seed,
            name,
            _encoder(db, name),
            budget,
            base_us=(base - datetime(1970, 1, 1)) // timedelta(microseconds=1),
            step_us=ctx.step_us,
            cache=name in targets,
        )
    for target in sorted(targets - set(jobs)):
        ctx.existing[target] = _existing_ids(ctx, target)
    _plan_refs(ctx, jobs, deferred)
    joins = [jt for jt in join_tables(definition) if jt.source in jobs]
    counter = _Counter(total_rows + sum(_planned_links(ctx, jt) for jt in joins), progress)
    for name in order:
        _insert_entity(ctx, jobs[name], counter, links, preserve, timing)
    for name, column in sorted(deferred):
        _fill_deferred(ctx, jobs[name], jobs[name].refs[column], links, timing)
    for join in joins:
        _insert_links(ctx, join, counter, links, timing)
    t0 = time.perf_counter()
    for name in order:
        feed.register_new_rows(db, name, table_of(db, name))
    timing["sql"] += time.perf_counter() - t0
    return total_rows


def _represent(value: Any, ftype: Any) -> Any:
    """A value as the driver parameter a field of type ``ftype`` binds (None: NULL)."""
    return param_encoder(ftype)(value)


def _encoder(db: DAL, entity: str) -> Callable[[uuid.UUID], Any]:
    return param_encoder(table_of(db, entity).id.type)


@contextmanager
def progress_bar(
    *, desc: str = "seeding", file: Any = None, disable: bool | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar as a ``progress`` callback (for the CLI); closed when the block ends.

    ``disable=None`` shows no bar when ``file`` is not a terminal (a script, a log file).
    """
    from tqdm import tqdm

    bar = tqdm(
        total=0, desc=desc, unit="row", unit_scale=True, file=file, mininterval=0.2, disable=disable
    )

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
