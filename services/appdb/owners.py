"""A user's app databases over the whole life of their owner: deleted with the user.

Issue 14: user A deleted their account, their model's database stayed, and user B, creating a
model with the same id, was served A's rows. Deleting a user now drops each of their models'
databases and backups before the user goes, one model per commit, after recording the deletion
(``user_deletion``, revision 0009) and closing the account: a crash leaves a recorded deletion
that the next start finishes (``finish_deletions``), never a database whose model is gone (and a
leftover found under an id is moved to the quarantine by the next create, see
services/appdb/quarantine.py).
"""

from __future__ import annotations

import uuid

from pydal import DAL

from services import users
from services.appdb import catalog, locks
from services.appdb.handles import Handles
from services.config import Settings
from services.errors import Forbidden, NotFound
from services.timeutil import utcnow


def delete_user(
    *, db: DAL, handles: Handles, user_id: uuid.UUID, acting_user_id: uuid.UUID
) -> None:
    """Delete the user, their models, the models' databases and backups; commits per model."""
    user = users.get_user(db=db, user_id=user_id)
    if user is None:
        raise NotFound("User not found")
    if user.is_superuser and user_id == acting_user_id:
        raise Forbidden("Super users are not allowed to delete themselves")
    # Recorded (and the account closed) before anything is dropped: from here on, a crash
    # leaves a deletion the next start finishes, never a user with half their models.
    if db(db.user_deletion.user_id == user_id).isempty():
        db.user_deletion.insert(user_id=user_id, requested_at=utcnow())
    db(db.user.id == user_id).update(is_active=False)
    db.commit()
    _finish(db=db, settings=handles.settings, handles=handles, user_id=user_id)


def finish_deletions(*, db: DAL, settings: Settings) -> int:
    """Finish the account deletions a crash cut short (at start-up); returns how many, each
    committed."""
    user_ids = [r.user_id for r in db(db.user_deletion).select(db.user_deletion.user_id)]
    for user_id in user_ids:
        _finish(db=db, settings=settings, handles=None, user_id=user_id)
        db.commit()
    return len(user_ids)


def _finish(*, db: DAL, settings: Settings, handles: Handles | None, user_id: uuid.UUID) -> None:
    for row in db(db.app_model.owner_id == user_id).select(db.app_model.id):
        with locks.model_lock(settings=settings, model_id=row.id):
            if handles is not None:
                handles.invalidate(row.id)
            catalog.delete_model(db=db, settings=settings, model_id=row.id, owner_id=None)
            db.commit()  # the database is gone: its model must go too, whatever happens next
            if handles is not None:
                handles.invalidate(row.id)  # a request may have opened it again meanwhile
    # The deletion record goes with the user (ON DELETE CASCADE).
    users.delete_user(db=db, user_id=user_id, acting_user_id=None)
