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

import hashlib
import math
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from random import Random
from typing import Any

from pydal import DAL

from services.appdb.definition import Definition
from services.appdb.rows import (
    RowConflict,
    RowInvalid,
    _family,
    _table,
    delete_all,
    problem,
)
from services.appdb.schema import STRING_LENGTH, Column, JoinTable, entity_columns, join_tables
from services.db import feed
from services.db.statements import is_integrity_error, param_encoder

DEFAULT_COUNT = 5
API_MAX_COUNT = 10  # what the HTTP API allows; the library and the CLI take any count
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
RETRIES = 4  # fresh values tried for a unique value that an existing row already has
_MASK62 = (1 << 62) - 1
_ROOT_SHARE = 10  # a required self-reference: one row in ten is a root

_FAKERS: dict[str, Any] = {}
_FAKER_LOCK = threading.Lock()


# --------------------------------------------------------------------------- deterministic bits


def _derive(seed: int, *parts: str) -> int:
    """A 64-bit sub-seed for one stream (stable across runs and Python versions)."""
    text = "\x1f".join((str(seed), *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _rng(seed: int, *parts: str) -> Random:
    return Random(_derive(seed, *parts))


class IdSpace:
    """One entity's seeded rows by index: creation times, ids, and encoded ids (some cached).

    Row ``i`` was created at ``base + i * step`` plus a pseudo-random part of a step, so
    creation times rise with the index. Its id is a version 7 UUID: the creation time in
    milliseconds, then 74 bits of which 62 are a bijection of ``i`` (so ids never collide).
    Ids therefore rise with the index too, and the rows go into every primary-key B-tree
    (SQLite, InnoDB, PostgreSQL) in order.
    """

    def __init__(
        self,
        seed: int,
        entity: str,
        encode: Callable[[uuid.UUID], Any],
        budget: list[int],
        *,
        base_us: int,
        step_us: int,
        cache: bool = True,
    ) -> None:
        r = _rng(seed, "id", entity)
        self._m1 = r.getrandbits(62) | 1
        self._m2 = r.getrandbits(62) | 1
        self._salt = r.getrandbits(62)
        self._base_us, self._step_us = base_us, step_us
        probe = uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)
        self._hex = encode(probe) == probe.hex  # then format the int, skipping the UUID object
        self._encode = encode
        self._cache: list[str] = []
        self._budget = budget if cache else [0]  # shared: [entries still allowed]

    def _mix(self, i: int) -> int:
        # Multiply by an odd number and xor-shift: each step is invertible modulo 2**62.
        y = (i * self._m1) & _MASK62
        y ^= y >> 31
        y = (y * self._m2) & _MASK62
        return y ^ (y >> 29) ^ self._salt

    def uuid(self, i: int) -> uuid.UUID:
        """The id of row ``i`` (distinct for every ``i`` below 2**62)."""
        return self._uuid(i, self._mix(i))

    def _uuid(self, i: int, y: int) -> uuid.UUID:
        ms = (self._base_us + i * self._step_us + y % self._step_us) // 1000
        return uuid.UUID(
            int=(ms << 80) | (0x7 << 76) | (((y >> 50) & 0xFFF) << 64) | (0b10 << 62) | y
        )

    def literal(self, i: int) -> str:
        """Row ``i``'s id as the driver parameter its field binds."""
        cache = self._cache
        if i < len(cache):
            return cache[i]
        return self._new_literal(i, self._mix(i))

    def _new_literal(self, i: int, y: int) -> str:
        if self._hex:
            ms = (self._base_us + i * self._step_us + y % self._step_us) // 1000
            lit = format(
                (ms << 80) | (0x7 << 76) | (((y >> 50) & 0xFFF) << 64) | (0b10 << 62) | y, "032x"
            )
        else:
            lit = self._encode(self._uuid(i, y))
        cache = self._cache
        if i == len(cache) and self._budget[0] > 0:
            cache.append(lit)
            self._budget[0] -= 1
        return lit

    def rows(self, start: int, k: int) -> tuple[list[str], list[int]]:
        """Encoded ids and creation times (microseconds) of rows start..start+k-1, in order."""
        ids, stamps = [], []
        base, step, cache = self._base_us, self._step_us, self._cache
        for i in range(start, start + k):
            y = self._mix(i)
            ids.append(cache[i] if i < len(cache) else self._new_literal(i, y))
            stamps.append(base + i * step + y % step)
        return ids, stamps


# --------------------------------------------------------------------------- what to generate

PERSON_ENTITIES = frozenset(
    {
        "customer",
        "customers",
        "user",
        "users",
        "person",
        "people",
        "persons",
        "employee",
        "employees",
        "member",
        "members",
        "author",
        "authors",
        "student",
        "students",
        "contact",
        "contacts",
        "client",
        "clients",
        "patient",
        "patients",
        "staff",
        "owner",
        "owners",
        "teacher",
        "teachers",
        "player",
        "players",
        "profile",
        "profiles",
        "driver",
        "drivers",
        "guest",
        "guests",
        "subscriber",
        "subscribers",
        "buyer",
        "seller",
        "agent",
        "doctor",
        "manager",
        "volunteer",
        "artist",
        "reviewer",
        "participant",
        "attendee",
        "tenant",
    }
)
COMPANY_ENTITIES = frozenset(
    {
        "company",
        "companies",
        "organization",
        "organisation",
        "organizations",
        "vendor",
        "vendors",
        "supplier",
        "suppliers",
        "brand",
        "brands",
        "business",
        "manufacturer",
        "publisher",
        "agency",
        "team",
        "teams",
        "shop",
        "store",
        "stores",
    }
)
PLACE_ENTITIES = frozenset(
    {
        "city",
        "cities",
        "location",
        "locations",
        "place",
        "places",
        "venue",
        "venues",
        "region",
        "town",
        "warehouse",
        "branch",
        "office",
        "site",
    }
)

# Field name (whole, or its trailing words) -> what it holds.
HINTS = {
    "first_name": "first_name",
    "firstname": "first_name",
    "given_name": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "full_name": "person",
    "fullname": "person",
    "contact_name": "person",
    "name": "name",
    "display_name": "name",
    "username": "username",
    "user_name": "username",
    "login": "username",
    "handle": "username",
    "nickname": "username",
    "email": "email",
    "email_address": "email",
    "mail": "email",
    "phone": "phone",
    "phone_number": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "fax": "phone",
    "cell": "phone",
    "address": "address",
    "street": "street",
    "street_address": "street",
    "address_line": "street",
    "city": "city",
    "town": "city",
    "state": "state",
    "province": "state",
    "region": "state",
    "country": "country",
    "nationality": "country",
    "country_code": "country_code",
    "zip": "postcode",
    "zipcode": "postcode",
    "zip_code": "postcode",
    "postcode": "postcode",
    "postal_code": "postcode",
    "company": "company",
    "company_name": "company",
    "organization": "company",
    "organisation": "company",
    "employer": "company",
    "brand": "company",
    "manufacturer": "company",
    "vendor": "company",
    "supplier": "company",
    "job": "job",
    "job_title": "job",
    "occupation": "job",
    "profession": "job",
    "position": "job",
    "url": "url",
    "website": "url",
    "homepage": "url",
    "link": "url",
    "image": "url",
    "image_url": "url",
    "avatar": "url",
    "photo": "url",
    "domain": "domain",
    "title": "title",
    "subject": "title",
    "headline": "title",
    "heading": "title",
    "description": "text",
    "summary": "text",
    "bio": "text",
    "about": "text",
    "notes": "text",
    "note": "text",
    "comment": "text",
    "comments": "text",
    "content": "text",
    "body": "text",
    "message": "text",
    "text": "text",
    "details": "text",
    "review": "text",
    "color": "color",
    "colour": "color",
    "currency": "currency",
    "ip": "ip",
    "ip_address": "ip",
    "sku": "sku",
    "code": "sku",
    "slug": "slug",
    "category": "word",
    "tag": "word",
    "keyword": "word",
    "age": "age",
    "quantity": "quantity",
    "qty": "quantity",
    "count": "quantity",
    "stock": "quantity",
    "units": "quantity",
    "price": "price",
    "amount": "price",
    "cost": "price",
    "total": "price",
    "subtotal": "price",
    "salary": "price",
    "balance": "price",
    "fee": "price",
    "rating": "rating",
    "stars": "rating",
    "score": "score",
    "percent": "percent",
    "percentage": "percent",
    "discount": "percent",
    "year": "year",
    "lat": "latitude",
    "latitude": "latitude",
    "lng": "longitude",
    "lon": "longitude",
    "longitude": "longitude",
    "weight": "weight",
    "birth_date": "birth_date",
    "birthday": "birth_date",
    "date_of_birth": "birth_date",
    "dob": "birth_date",
    "birthdate": "birth_date",
}

# Numeric kinds: (low, high, decimals).
NUMBERS = {
    "age": (18, 80, 0),
    "quantity": (1, 100, 0),
    "price": (1, 1000, 2),
    "rating": (1, 5, 0),
    "score": (0, 100, 0),
    "percent": (0, 100, 0),
    "year": (1950, 2025, 0),
    "latitude": (-90, 90, 6),
    "longitude": (-180, 180, 6),
    "weight": (1, 100, 2),
}
TEXT_KINDS = frozenset(
    {
        "first_name",
        "last_name",
        "person",
        "name",
        "username",
        "email",
        "phone",
        "address",
        "street",
        "city",
        "state",
        "country",
        "country_code",
        "postcode",
        "company",
        "job",
        "url",
        "domain",
        "title",
        "text",
        "color",
        "currency",
        "ip",
        "sku",
        "slug",
        "word",
        "thing",
    }
)


def hint_for(entity: str, column: Column) -> str | None:
    """What a field holds, from its name, when its type can hold that; None: go by type."""
    words = column.name.split("_")
    kind = None
    for k in range(len(words)):
        kind = HINTS.get("_".join(words[k:]))
        if kind:
            break
    if kind is None:
        return None
    if kind == "name":
        base = entity.lower()
        kind = (
            "person"
            if base in PERSON_ENTITIES
            else "company"
            if base in COMPANY_ENTITIES
            else "city"
            if base in PLACE_ENTITIES
            else "thing"
        )
    if column.type in ("String", "Text"):
        return kind if kind in TEXT_KINDS else None
    if column.type in ("Integer", "Float"):
        return kind if kind in NUMBERS else None
    if column.type in ("Date", "DateTime"):
        return kind if kind == "birth_date" else None
    return None


def _ascii_letters(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _faker_value(fake: Any, kind: str) -> Any:
    """One Faker value of ``kind`` (a locale missing a provider falls back to plainer ones)."""
    if kind == "first_name":
        return fake.first_name()
    if kind == "last_name":
        return fake.last_name()
    if kind == "person":
        return fake.name()
    if kind == "username":
        return fake.user_name()
    if kind == "email":
        return fake.safe_email()
    if kind == "email_domain":
        return fake.safe_domain_name()
    if kind == "phone":
        return fake.phone_number()
    if kind == "address":
        return fake.address().replace("\n", ", ")
    if kind == "street":
        return fake.street_address()
    if kind == "city":
        return fake.city()
    if kind == "state":
        for name in ("state", "administrative_unit", "city"):
            if hasattr(fake, name):
                return getattr(fake, name)()
    if kind == "country":
        return fake.country()
    if kind == "country_code":
        return fake.country_code()
    if kind == "postcode":
        return fake.postcode()
    if kind == "company":
        return fake.company()
    if kind == "job":
        return fake.job()
    if kind == "url":
        return fake.url()
    if kind == "domain":
        return fake.domain_name()
    if kind == "title":
        return fake.sentence(nb_words=4).rstrip(".")
    if kind == "text":
        return fake.paragraph(nb_sentences=3)
    if kind == "color":
        return fake.color_name()
    if kind == "currency":
        return fake.currency_code()
    if kind == "ip":
        return fake.ipv4()
    if kind == "sku":
        return fake.bothify("??-#####").upper()
    if kind == "slug":
        return fake.slug()
    if kind == "thing":
        return " ".join(fake.words(2)).title()
    if kind == "words":  # a plain String with nothing in its name to go by
        return " ".join(fake.words(3)).capitalize()
    if kind == "tags":
        return fake.words(fake.random_int(1, 4))
    if kind == "object":
        keys = fake.words(fake.random_int(1, 3), unique=True)
        return {
            k: (fake.word() if j % 2 == 0 else fake.random_int(0, 100)) for j, k in enumerate(keys)
        }
    return " ".join(fake.words(2))  # "word" and anything unforeseen


def _faker(locale: str):
    """A cached Faker for ``locale``; use it under _FAKER_LOCK (it is re-seeded per pool)."""
    fake = _FAKERS.get(locale)
    if fake is None:
        from faker import Faker

        fake = Faker(locale, use_weighting=False)
        _FAKERS[locale] = fake
    return fake


def available_locales() -> list[str]:
    """Locales Faker knows."""
    from faker.config import AVAILABLE_LOCALES

    return list(AVAILABLE_LOCALES)


class Pools:
    """Faker values by kind, generated on first use: ``size`` values, seeded per kind."""

    def __init__(self, seed: int, locale: str, size: int) -> None:
        self.seed, self.locale, self.size = seed, locale, size
        self._pools: dict[str, list] = {}
        self.faker_seconds = 0.0

    def get(self, kind: str) -> list:
        pool = self._pools.get(kind)
        if pool is None:
            start = time.perf_counter()
            with _FAKER_LOCK:
                fake = _faker(self.locale)
                fake.seed_instance(_derive(self.seed, "faker", kind))
                pool = [_faker_value(fake, kind) for _ in range(self.size)]
            self.faker_seconds += time.perf_counter() - start
            self._pools[kind] = pool
        return pool


PERSON_KINDS = frozenset({"first_name", "last_name", "person", "username", "email"})


class Persona:
    """The person a row of an entity describes: its name fields and email agree.

    Row ``i`` is person ``index(i)`` of the pools (a pure function of ``i``, so a value can be
    made again for any row); first and last names come from Faker, the rest is derived.
    """

    def __init__(self, pools: Pools, seed: int, entity: str) -> None:
        self.first = pools.get("first_name")
        self.last = pools.get("last_name")
        self.users = pools.get("username")
        self.domains = pools.get("email_domain")
        self.size = n = len(self.first)
        r = _rng(seed, "persona", entity)
        self._step = _coprime_step(n, r)
        self._shift = r.randrange(n)
        self._locals: dict[int, str] = {}

    def index(self, i: int) -> int:
        """Which person row ``i`` describes: each block of ``size`` rows meets everyone once."""
        n = self.size
        return (i * self._step + self._shift + (i // n) * 7919) % n

    def email_local(self, p: int) -> str:
        """``first.last`` in ASCII letters and digits (a user name where the script has none)."""
        local = self._locals.get(p)
        if local is None:
            names = filter(None, (_ascii_letters(self.first[p]), _ascii_letters(self.last[p])))
            local = (".".join(names) or _ascii_letters(self.users[p]) or "user")[:60]
            self._locals[p] = local
        return local

    def value(self, kind: str, p: int) -> str:
        """Person ``p``'s value of a person kind (email without its distinguishing number)."""
        if kind == "first_name":
            return self.first[p]
        if kind == "last_name":
            return self.last[p]
        if kind == "person":
            return f"{self.first[p]} {self.last[p]}"
        if kind == "username":
            return self.email_local(p).replace(".", "_")
        return f"{self.email_local(p)}@{self.domains[p % len(self.domains)]}"


# --------------------------------------------------------------------------- column generators


@dataclass
class Ctx:
    """What every generator of one run shares."""

    db: DAL
    seed: int
    pools: Pools
    represent: Callable[[Any, Any], Any]  # (value, field type) -> driver parameter
    base: datetime  # the seed's "now": seeded rows are created after it
    step_us: int  # microseconds between consecutive created_at values
    ids: dict[str, IdSpace]
    counts: dict[str, int]  # rows seeded this run, by entity
    offsets: dict[str, int]  # rows of the entity before this run (preserve_existing)
    existing: dict[str, list[str]] = field(default_factory=dict)  # encoded ids, by entity
    personas: dict[str, Persona] = field(default_factory=dict)

    def persona(self, entity: str) -> Persona:
        """The persona stream of an entity (shared by its person fields)."""
        if entity not in self.personas:
            self.personas[entity] = Persona(self.pools, self.seed, entity)
        return self.personas[entity]


Gen = Callable[[int, int], list[Any]]  # (first local row, how many) -> driver parameters


def _pool_gen(rng: Random, literals: list[Any]) -> Gen:
    """Rows take the pool's values in a shuffled order, reshuffled after each pass."""
    order: list[Any] = []
    pos = 0  # the next value of the current pass (chunk sizes must not change the sequence)

    def gen(start: int, k: int) -> list[Any]:
        nonlocal pos
        out: list[Any] = []
        while len(out) < k:
            if pos == len(order):
                order[:] = literals
                rng.shuffle(order)
                pos = 0
            take = min(k - len(out), len(order) - pos)
            out.extend(order[pos : pos + take])
            pos += take
        return out

    return gen


def _number(rng: Random, low: float, high: float, decimals: int, integer: bool) -> Any:
    if integer:
        return rng.randint(int(low), int(high))
    return round(rng.uniform(low, high), decimals if decimals else 2)


def _value_pool(ctx: Ctx, entity: str, column: Column, hint: str | None) -> list:
    """Raw values a non-unique column samples from."""
    kind = column.type
    r = _rng(ctx.seed, "pool", entity, column.name)
    size = ctx.pools.size
    if kind in ("String", "Text"):
        if hint is None:
            hint = "words" if kind == "String" else "text"
        values = ctx.pools.get(hint)
        return [v[:STRING_LENGTH] for v in values] if kind == "String" else values
    if kind in ("Integer", "Float"):
        low, high, decimals = NUMBERS.get(hint, (0, 1000, 2))
        return [_number(r, low, high, decimals, kind == "Integer") for _ in range(size)]
    if kind == "Boolean":
        return [True, False]
    if kind == "Enum":
        return list(column.values or ())
    if kind in ("Date", "DateTime"):
        if hint == "birth_date":
            start, days = datetime(1945, 1, 1), 62 * 365
        else:
            start, days = ctx.base - timedelta(days=730), 760
        out = []
        for _ in range(size):
            moment = start + timedelta(seconds=r.randrange(days * 86400))
            out.append(moment.date() if kind == "Date" else moment)
        return out
    if kind == "Array":
        return ctx.pools.get("tags")
    if kind == "Object":
        return ctx.pools.get("object")
    raise ValueError(f"no generator for {kind}")  # pragma: no cover - definitions are validated


def _unique_raw(
    ctx: Ctx, entity: str, column: Column, hint: str | None
) -> tuple[Callable[[int, int], Any], int | None]:
    """A generator of distinct raw values by global row index (and retry), and its capacity."""
    kind = column.type
    if kind in ("String",):
        if hint == "email":
            return _email_raw(ctx, entity), None
        if hint in PERSON_KINDS:
            persona = ctx.persona(entity)

            def base(i: int) -> str:
                return persona.value(hint, persona.index(i))[:200]
        else:
            values = [v[:200] for v in ctx.pools.get(hint or "words")]
            r = _rng(ctx.seed, "unique", entity, column.name)
            picks = [r.randrange(len(values)) for _ in range(len(values))]

            def base(i: int) -> str:
                return values[picks[i % len(picks)]]

        def string(i: int, attempt: int) -> str:
            # The index after the last "-" tells values apart: distinct rows, distinct strings.
            text = f"{base(i)}-{i}"
            return text if not attempt else f"{text}-r{attempt}"

        return string, None
    if kind in ("Integer", "Float"):
        low = NUMBERS.get(hint, (1, 0, 0))[0]

        def number(i: int, attempt: int) -> Any:
            value = int(low) + i + attempt * (1 << 40)
            return value if kind == "Integer" else float(value)

        return number, None
    if kind == "Date":
        first = date(1945, 1, 1) if hint == "birth_date" else date(1970, 1, 1)

        def day(i: int, attempt: int) -> date:
            return first + timedelta(days=i + attempt * 500_000)

        return day, (date(9999, 12, 31) - first).days - RETRIES * 500_000
    if kind == "DateTime":
        start = ctx.base - timedelta(days=3650)

        def moment(i: int, attempt: int) -> datetime:
            return start + timedelta(seconds=i, microseconds=attempt * 1000)

        return moment, None
    raise ValueError(f"no unique generator for {kind}")  # pragma: no cover


def _email_raw(ctx: Ctx, entity: str) -> Callable[[int, int], str]:
    persona = ctx.persona(entity)
    domains = persona.domains

    def email(i: int, attempt: int) -> str:
        p = persona.index(i)
        retry = f"r{attempt}." if attempt else ""
        # Letters and digits, then ".<index>@": distinct indexes give distinct emails.
        return f"{persona.email_local(p)}.{retry}{i}@{domains[p % len(domains)]}"

    return email


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
    r = _rng(ctx.seed, "ref", job.name, column.name)
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
        step = _coprime_step(n, r)
        shift = r.randrange(n)
        return lambda local: lit_at((local * step + shift) % n) if local < n else None
    rnd = r.random
    return lambda local: lit_at(int(rnd() * n))


def _coprime_step(n: int, r: Random) -> int:
    while True:
        step = r.randrange(1, n + 1) if n > 1 else 1
        if math.gcd(step, n) == 1:
            return step


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
                raise RowInvalid(
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
        raise RowInvalid(problems, "invalid seed request")
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
        raise RowInvalid(problems, "cannot seed these entities")


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
            raw, capacity = _unique_raw(ctx, job.name, column, hint)
            if capacity is not None and job.offset + job.count > capacity:
                raise RowInvalid(
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
        values = _value_pool(ctx, job.name, column, hint)
        literals = [represent(v, ftype) for v in values]
        gens.append(_pool_gen(_rng(ctx.seed, "pick", job.name, column.name), literals))
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
        table = _table(ctx.db, job.name)
        taken = {
            r[column.name]
            for r in ctx.db(table[column.name] != None).select(  # noqa: E711
                table[column.name], distinct=True
            )
        }
        values = [v for v in values if v not in taken]
    if column.required and job.count > len(values):
        raise RowInvalid(
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
    mark = "?" if db._adapter.driver.paramstyle == "qmark" else "%s"
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
    table = _table(ctx.db, job.name)
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
                    raise RowConflict(
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
    table = _table(db, job.name)
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
    table = _table(db, job.name)
    fld = table[plan.column.name]
    space = ctx.ids[job.name]
    pick = _parent_picker(
        ctx,
        job,
        RefPlan(plan.column, "new", plan.unique, plan.required),
        _rng(ctx.seed, "ref", job.name, plan.column.name),
    )
    mark = "?" if db._adapter.driver.paramstyle == "qmark" else "%s"
    then = f"CAST({mark} AS UUID)" if _family(db) == "postgresql" else mark
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
    return _rng(ctx.seed, "links", join.name)


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
    jt = _table(db, join.name)
    n_targets, target_lit = _targets_of(ctx, join)
    most = min(MAX_LINKS_PER_ROW, n_targets)
    if not most:
        return
    how_many = _link_counts(ctx, join)  # the same stream _planned_links summed
    which = _rng(ctx.seed, "link-targets", join.name)
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
    table = _table(ctx.db, entity)
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
            raise RowConflict(
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
        offsets[name] = db(_table(db, name).id != None).count() if preserve else 0  # noqa: E711
        jobs[name] = EntityJob(
            name, count, offsets[name], entity_columns(definition, entities[name])
        )
    order, deferred = _seed_order(definition, names, jobs)
    r = _rng(seed, "time")
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
        feed.register_new_rows(db, name, _table(db, name))
    timing["sql"] += time.perf_counter() - t0
    return total_rows


def _represent(value: Any, ftype: Any) -> Any:
    """A value as the driver parameter a field of type ``ftype`` binds (None: NULL)."""
    return param_encoder(ftype)(value)


def _encoder(db: DAL, entity: str) -> Callable[[uuid.UUID], Any]:
    return param_encoder(_table(db, entity).id.type)


@contextmanager
def progress_bar(
    *, desc: str = "seeding", file: Any = None
) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar as a ``progress`` callback (for the CLI); closed when the block ends."""
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit="row", unit_scale=True, file=file, mininterval=0.2)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
