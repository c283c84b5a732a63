"""Login throttling: failures per account and per client address, kept in the database.

Kept in the login_attempt table, not in memory, so that several service processes on one
PostgreSQL or MariaDB share it: an attacker gains nothing by spreading guesses over processes.

The rule: an account may fail ACCOUNT_FREE times and a client address CLIENT_FREE times; each
failure after that locks the subject for 1, 2, 4, ... seconds, at most MAX_LOCK. A locked
subject's attempts are refused with 429 before the password is even checked. A success clears
the account's and the client's failures. The desktop's local superuser (FIRST_SUPERUSER), and
any client on loopback, where every local program and the user's own app share 127.0.0.1, are
locked for at most LOCAL_MAX_LOCK: a guesser there gets two tries a minute, and the user is
never locked out of their own machine for longer than that.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydal import DAL
from pydal.objects import Row

from services import users
from services.db.statements import is_integrity_error
from services.errors import Invalid, ServiceError
from services.timeutil import utcnow

ACCOUNT_FREE = 5
CLIENT_FREE = 20
MAX_LOCK = timedelta(minutes=15)
LOCAL_MAX_LOCK = timedelta(seconds=30)
WRONG = "Incorrect email or password"


class Throttled(ServiceError):
    """Too many failed logins: try again after ``retry_after`` seconds (a 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed login attempts; try again later")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Subject:
    """What failures are counted against, how many are free, and the longest lock."""

    key: str
    free: int
    max_lock: timedelta


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def subjects(*, email: str, client: str | None, local_superuser: str) -> list[Subject]:
    """The account and the client address a login attempt counts against."""
    account = email.lower()
    local = account == local_superuser.lower()
    found = [
        Subject(f"account:{account}"[:300], ACCOUNT_FREE, LOCAL_MAX_LOCK if local else MAX_LOCK)
    ]
    if client:
        cap = LOCAL_MAX_LOCK if _loopback(client) else MAX_LOCK
        found.append(Subject(f"client:{client}"[:300], CLIENT_FREE, cap))
    return found


def login(*, db: DAL, email: str, password: str, client: str | None, local_superuser: str) -> Row:
    """The user whose password this is; Throttled while locked, Invalid when wrong."""
    counted = subjects(email=email, client=client, local_superuser=local_superuser)
    now = utcnow()
    _refuse_if_locked(db, counted, now)
    user = users.authenticate(db=db, email=email, password=password)
    if user is None:
        _record_failure(db, counted, now)
        raise Invalid(WRONG)
    db(db.login_attempt.subject.belongs([s.key for s in counted])).delete()
    return user


def _refuse_if_locked(db: DAL, counted: list[Subject], now: datetime) -> None:
    table = db.login_attempt
    rows = db(table.subject.belongs([s.key for s in counted])).select(table.blocked_until)
    until = max((r.blocked_until for r in rows if r.blocked_until), default=None)
    if until is not None and until > now:
        raise Throttled(max(1, math.ceil((until - now).total_seconds())))


def _record_failure(db: DAL, counted: list[Subject], now: datetime) -> None:
    # Committed here, at once: the 400 that follows rolls the request back, and a failure
    # that is not stored would not count.
    table = db.login_attempt
    for subject in counted:
        row = db(table.subject == subject.key)
        if not row.update(failures=table.failures + 1, updated_at=now):
            try:
                table.insert(subject=subject.key, failures=1, updated_at=now)
            except Exception as exc:
                if not is_integrity_error(exc):
                    raise
                db.rollback()  # another process inserted it first: count on its row
                return _record_failure(db, counted, now)
        failures = row.select(table.failures).first().failures
        if failures >= subject.free:
            lock = min(timedelta(seconds=2 ** min(failures - subject.free, 20)), subject.max_lock)
            row.update(blocked_until=now + lock)
    db.commit()
    return None
