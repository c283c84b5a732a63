"""A user's app databases over the whole life of their owner: deleted with the user.

Issue 14: user A deleted their account, their model's database stayed, and user B, creating a
model with the same id, was served A's rows. Deleting a user now drops each of their models'
databases and backups before the user goes, one model per commit: a crash leaves the user with
fewer models, never a database whose model is gone (and a leftover found under an id is moved
to the quarantine by the next create, see services/appdb/quarantine.py).
"""

from __future__ import annotations

import uuid

from pydal import DAL

from services import users
from services.appdb import catalog, locks
from services.appdb.handles import Handles
from services.errors import Forbidden, NotFound


def delete_user(
    *, db: DAL, handles: Handles, user_id: uuid.UUID, acting_user_id: uuid.UUID
) -> None:
    """Delete the user, their models, the models' databases and backups; commits per model."""
    user = users.get_user(db=db, user_id=user_id)
    if user is None:
        raise NotFound("User not found")
    if user.is_superuser and user_id == acting_user_id:
        raise Forbidden("Super users are not allowed to delete themselves")
    settings = handles.settings
    for row in db(db.app_model.owner_id == user_id).select(
        *[db.app_model[f] for f in catalog.PUBLIC_FIELDS]
    ):
        with locks.model_lock(settings=settings, model_id=row.id):
            handles.invalidate(row.id)
            catalog.delete_model(db=db, settings=settings, model_id=row.id, owner_id=None)
            db.commit()  # the database is gone: its model must go too, whatever happens next
            handles.invalidate(row.id)
    users.delete_user(db=db, user_id=user_id, acting_user_id=acting_user_id)
