"""What a seed generates for one field: Faker pools, personas, ids and column generators.

Faker (``use_weighting=False``) fills small pools of values once per run (names, cities,
sentences, ...); rows then sample the pools with seeded ``random.Random`` streams, one stream per
column, so a column's values depend only on the seed, the definition and the row count. A row's
id and creation time are functions of its index (see IdSpace). How rows are planned and written
is services/appdb/seed.py.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from random import Random
from typing import Any

from pydal import DAL

from services.appdb.schema import STRING_LENGTH, Column

RETRIES = 4  # fresh values tried for a unique value that an existing row already has
_MASK62 = (1 << 62) - 1

_FAKERS: dict[str, Any] = {}
_FAKER_LOCK = threading.Lock()


# --------------------------------------------------------------------------- deterministic bits


def _derive(seed: int, *parts: str) -> int:
    """A 64-bit sub-seed for one stream (stable across runs and Python versions)."""
    text = "\x1f".join((str(seed), *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def rng(seed: int, *parts: str) -> Random:
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
        r = rng(seed, "id", entity)
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
        r = rng(seed, "persona", entity)
        self._step = coprime_step(n, r)
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


def pool_gen(rng: Random, literals: list[Any]) -> Gen:
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


def value_pool(ctx: Ctx, entity: str, column: Column, hint: str | None) -> list:
    """Raw values a non-unique column samples from."""
    kind = column.type
    r = rng(ctx.seed, "pool", entity, column.name)
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


def unique_raw(
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
            r = rng(ctx.seed, "unique", entity, column.name)
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


def coprime_step(n: int, r: Random) -> int:
    while True:
        step = r.randrange(1, n + 1) if n > 1 else 1
        if math.gcd(step, n) == 1:
            return step
