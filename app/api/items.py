"""Items: each user's own; superusers see all."""

from __future__ import annotations

from app.api import BODY, PROTECTED, blueprint, errors
from app.auth import current_user
from app.db import get_db
from app.http import respond, respond_json
from services import items
from services.schemas import (
    ItemCreate,
    ItemIdPath,
    ItemPublic,
    ItemsPublic,
    ItemUpdate,
    Message,
    PageQuery,
)

bp = blueprint("items")


def _scope():
    # Superusers act on every item; anyone else only on their own.
    user = current_user()
    return user, (None if user.is_superuser else user.id)


@bp.get("/", responses={200: ItemsPublic, **errors(400, *PROTECTED)})
def read_items(query: PageQuery):
    """List items, newest first."""
    _, owner = _scope()
    page = items.read_page(db=get_db(), owner_id=owner, skip=query.skip, limit=query.limit)
    return respond_json(page)


@bp.get("/<id>", responses={200: ItemPublic, **errors(400, *PROTECTED)})
def read_item(path: ItemIdPath):
    """One item."""
    _, owner = _scope()
    return respond(items.to_public(items.get_item(db=get_db(), item_id=path.id, owner_id=owner)))


@bp.post("/", responses={200: ItemPublic, **errors(400, *PROTECTED, *BODY)})
def create_item(body: ItemCreate):
    """Create an item owned by the current user."""
    user = current_user()
    row = items.create_item(db=get_db(), owner_id=user.id, item_create=body)
    return respond(items.to_public(row))


@bp.put("/<id>", responses={200: ItemPublic, **errors(400, *PROTECTED, *BODY)})
def update_item(path: ItemIdPath, body: ItemUpdate):
    """Change an item."""
    _, owner = _scope()
    changes = body.model_dump(exclude_unset=True)
    row = items.update_item(db=get_db(), item_id=path.id, owner_id=owner, changes=changes)
    return respond(items.to_public(row))


@bp.delete("/<id>", responses={200: Message, **errors(400, *PROTECTED)})
def delete_item(path: ItemIdPath):
    """Delete an item."""
    _, owner = _scope()
    items.delete_item(db=get_db(), item_id=path.id, owner_id=owner)
    return respond(Message(message="Item deleted successfully"))
