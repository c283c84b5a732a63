"""One-time console launch codes and the browser sessions they open (launch-token mode).

The desktop shell knows the launch token; a browser tab cannot send it as a header. The shell
trades the token for a short-lived code, opens ``/console/enter?code=...`` once, and the service
answers with a cookie naming a session. The token itself never appears in a URL, a history entry
or a page, and a code is worthless once used or after ``CODE_SECONDS``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict

CODE_SECONDS = 60.0
MAX_CODES = 32
MAX_SESSIONS = 64


class LaunchDoor:
    """Codes waiting to be redeemed and the sessions they opened, in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: OrderedDict[str, float] = OrderedDict()
        self._sessions: OrderedDict[str, None] = OrderedDict()

    def issue_code(self) -> str:
        """A new single-use code, valid for CODE_SECONDS."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = time.monotonic() + CODE_SECONDS
            while len(self._codes) > MAX_CODES:  # an unredeemed flood cannot grow memory
                self._codes.popitem(last=False)
        return code

    def redeem(self, code: str) -> str | None:
        """A new session id for a valid code (which is spent), else None."""
        with self._lock:
            expires = self._codes.pop(code, None)
            if expires is None or expires < time.monotonic():
                return None
            session = secrets.token_urlsafe(32)
            self._sessions[session] = None
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session

    def session_valid(self, session: str) -> bool:
        """True when ``session`` was opened by a redeemed code and not closed since."""
        if not session:
            return False
        with self._lock:
            known = list(self._sessions)
        # Compare each in constant time: the cookie is a secret like the token it stands for.
        found = False
        for candidate in known:
            found |= hmac.compare_digest(candidate.encode(), session.encode())
        return found

    def close(self, session: str) -> None:
        """Forget a session (logout from the console)."""
        with self._lock:
            self._sessions.pop(session, None)
