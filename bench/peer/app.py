"""The peer's FastAPI app: engine per app, a Session per request, items and health routes."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, create_engine, func, select

from bench.peer.models import Item, ItemCreate, ItemPublic, ItemsPublic, User

LOCAL_SUPERUSER = "admin@example.com"
MAX_PAGE = 1000  # the service's cap on ?limit=
# The pragmas the service applies to every SQLite connection (services/db/pragmas.py).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


def make_engine(path: Path, pool_size: int) -> Engine:
    """A SQLite engine in WAL mode, shared by the worker threads FastAPI runs sync routes on.

    The pool keeps a connection for every worker thread and may open more. With a bounded pool
    (SQLAlchemy's default 5 + 10 overflow, or even one the size of AnyIO's 40 threads) enough
    concurrent requests deadlock until the pool's 30 s timeout: a request holds its connection
    until its dependency's teardown gets a worker thread, while the threads are taken by
    requests blocked waiting for a connection (fastapi/fastapi#3205; at 100 connections a pool of
    40 with no overflow stalled for good). Unbounded overflow removes the wait, so the peer is
    measured at its best rather than at its deadlock.
    """
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False},
        pool_size=pool_size,
        max_overflow=-1,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        for statement in SQLITE_PRAGMAS:
            cursor.execute(statement)
        cursor.close()

    return engine


def init_db(engine: Engine) -> uuid.UUID:
    """Create the tables and the local superuser (once); return the superuser's id."""
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.email == LOCAL_SUPERUSER)).first()
        if user is None:
            # No auth on the peer, so no password to hash: nobody ever logs in.
            user = User(email=LOCAL_SUPERUSER, hashed_password="!", is_superuser=True)
            session.add(user)
            session.commit()
            session.refresh(user)
        return user.id


# --------------------------------------------------------------------------- dependencies


def get_db(request: Request) -> Generator[Session, None, None]:
    """One Session per request, closed after the response (the template's SessionDep)."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_current_user(session: SessionDep, request: Request) -> User:
    """The acting user: always the local superuser, read per request as the service does."""
    user = session.get(User, request.app.state.local_user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


# --------------------------------------------------------------------------- routes

items = APIRouter(prefix="/items", tags=["items"])


@items.get("/", response_model=ItemsPublic)
def read_items(
    session: SessionDep,
    current_user: CurrentUser,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 100,
) -> Any:
    """List items, newest first: all of them for a superuser, else the caller's own."""
    count_statement = select(func.count()).select_from(Item)
    statement = select(Item)
    if not current_user.is_superuser:
        count_statement = count_statement.where(Item.owner_id == current_user.id)
        statement = statement.where(Item.owner_id == current_user.id)
    count = session.exec(count_statement).one()
    statement = (
        statement.order_by(col(Item.created_at).desc(), col(Item.id)).offset(skip).limit(limit)
    )
    return ItemsPublic(data=session.exec(statement).all(), count=count)


@items.get("/{id}", response_model=ItemPublic)
def read_item(session: SessionDep, current_user: CurrentUser, id: uuid.UUID) -> Any:
    """One item; another owner's item is reported as missing, as the service does."""
    item = session.get(Item, id)
    if not item or (not current_user.is_superuser and item.owner_id != current_user.id):
        raise HTTPException(status_code=404, detail="Item not found")
    return item


@items.post("/", response_model=ItemPublic)
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> Any:
    """Create an item owned by the caller."""
    item = Item.model_validate(item_in, update={"owner_id": current_user.id})
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


utils = APIRouter(prefix="/utils", tags=["utils"])


@utils.get("/health-check/")
def health_check() -> bool:
    """True once the peer can serve."""
    return True


# --------------------------------------------------------------------------- the app


def create_app(database: Path) -> FastAPI:
    """The peer on the SQLite file ``database`` (created and filled in at start-up)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threads = anyio.to_thread.current_default_thread_limiter().total_tokens
        app.state.engine = make_engine(database, pool_size=int(threads))
        app.state.local_user_id = init_db(app.state.engine)
        yield
        app.state.engine.dispose()

    app = FastAPI(title="bench peer", openapi_url="/api/v1/openapi.json", lifespan=lifespan)
    api = APIRouter(prefix="/api/v1")
    api.include_router(items)
    api.include_router(utils)
    app.include_router(api)
    return app
