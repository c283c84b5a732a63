"""The change feed (services/db/feed.py) on the main database, without HTTP or the sync engine.

The numbers, the cursor, live entries and tombstones are what every client's resume point rests
on: a client that has seen seq n must find every later change above n, once, in its latest state.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest

from services.db import feed
from services.errors import Invalid
from services.timeutil import utcnow

ITEMS = "items"


def new_user(dal, name: str = "owner") -> uuid.UUID:
    """A user row to own items (the feed keeps owner ids, with no foreign key)."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    return dal.user.insert(email=email, hashed_password="x", is_active=True, is_superuser=False)[
        "id"
    ]


def new_item(dal, owner_id: uuid.UUID, *, created_at: datetime | None = None) -> uuid.UUID:
    """An item row inserted through PyDAL, as services/items.py does, with no feed entry yet."""
    values = {"owner_id": owner_id, "title": "t"}
    if created_at is not None:
        values |= {"created_at": created_at, "updated_at": created_at}
    return dal.item.insert(**values)["id"]


def entry(dal, row_id: uuid.UUID, tbl: str = ITEMS) -> feed.Entry:
    """The stored entry of one row."""
    return feed.entries(dal, tbl, [row_id])[row_id]


def seqs(dal, row_ids, tbl: str = ITEMS) -> list[int]:
    """The entries' numbers, in the order of ``row_ids``."""
    found = feed.entries(dal, tbl, row_ids)
    return [found[r].seq for r in row_ids]


# --------------------------------------------------------------------------- the counter


def test_allocate_hands_out_consecutive_numbers_and_last_seq_follows(dal):
    start = feed.last_seq(dal)
    assert feed.allocate(dal, 3) == start + 1
    assert feed.last_seq(dal) == start + 3
    assert feed.allocate(dal, 1) == start + 4
    dal.commit()
    assert feed.allocate(dal, 2) == start + 5
    assert feed.last_seq(dal) == start + 6


def test_the_epoch_is_stable_across_writes_and_commits(dal):
    first = feed.epoch(dal)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    feed.allocate(dal, 5)
    dal.commit()
    assert feed.epoch(dal) == first


def test_ensure_counter_recreates_a_missing_counter_above_the_highest_seq(dal):
    old_epoch = feed.epoch(dal)
    rows = [uuid.uuid4() for _ in range(3)]
    for row_id in rows:
        feed.touch(dal, ITEMS, row_id, new=True)
    highest = max(seqs(dal, rows))
    dal(dal.sync_counter).delete()
    assert feed.last_seq(dal) == 0
    feed.ensure_counter(dal)
    assert feed.last_seq(dal) == highest
    # A new counter is a new feed: cursors handed out before start over.
    assert feed.epoch(dal) != old_epoch
    assert feed.allocate(dal, 1) == highest + 1
    feed.ensure_counter(dal)  # a counter that exists is left alone
    assert feed.last_seq(dal) == highest + 1


def test_allocate_and_epoch_recreate_a_missing_counter_themselves(dal):
    feed.touch(dal, ITEMS, uuid.uuid4(), new=True)
    highest = feed.last_seq(dal)
    dal(dal.sync_counter).delete()
    assert feed.allocate(dal, 2) == highest + 1
    dal(dal.sync_counter).delete()
    assert re.fullmatch(r"[0-9a-f]{32}", feed.epoch(dal))
    # Numbers handed out but never stored are not remembered: the new epoch resets cursors.
    assert feed.last_seq(dal) == highest


# --------------------------------------------------------------------------- cursors


def test_a_cursor_round_trips_through_encode_and_decode():
    epoch_id = uuid.uuid4().hex
    for seq in (0, 1, 42, feed.MAX_SEQ):
        assert feed.decode_cursor(feed.encode_cursor(epoch_id, seq)) == (epoch_id, seq)


EPOCH = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        EPOCH,
        f"{EPOCH}.",
        ".5",
        f"{EPOCH[:-1]}.5",
        f"{EPOCH}0.5",
        f"{EPOCH.upper()}.5",
        f"{EPOCH}.-5",
        f"{EPOCH}.5.6",
        f"{EPOCH}.5 ",
        f" {EPOCH}.5",
        f"{EPOCH}.1e3",
        f"{EPOCH}.{'9' * 20}",
        f"{EPOCH}.{feed.MAX_SEQ + 1}",
        f"{EPOCH}.{'9' * 19}",
    ],
)
def test_decode_refuses_a_cursor_this_service_did_not_hand_out(cursor):
    with pytest.raises(Invalid):
        feed.decode_cursor(cursor)


# --------------------------------------------------------------------------- touch


def test_touch_records_a_live_entry_with_the_next_number(dal):
    owner = new_user(dal)
    item_id = new_item(dal, owner)
    before = feed.last_seq(dal)
    feed.touch(dal, ITEMS, item_id, owner_id=owner, new=True)
    stored = entry(dal, item_id)
    assert stored.seq == before + 1 == feed.last_seq(dal)
    assert not stored.deleted
    assert stored.owner_id == owner
    assert stored.version.client_id == feed.LOCAL_CLIENT and stored.version.op_id == ""


def test_a_later_touch_renumbers_the_entry_above_the_others(dal):
    owner = new_user(dal)
    first, second = new_item(dal, owner), new_item(dal, owner)
    feed.touch(dal, ITEMS, first, owner_id=owner, new=True)
    feed.touch(dal, ITEMS, second, owner_id=owner, new=True)
    earlier = entry(dal, first)
    feed.touch(dal, ITEMS, first)  # an update made by a superuser: no owner given
    later = entry(dal, first)
    assert later.seq > entry(dal, second).seq > earlier.seq
    assert later.seq == feed.last_seq(dal)
    assert later.version > earlier.version
    assert later.owner_id == owner  # the row keeps its owner
    assert dal(dal.sync_row.row_id == first).count() == 1


def test_a_touch_after_a_write_stamped_ahead_still_wins(dal):
    row_id = uuid.uuid4()
    ahead = feed.Version(utcnow() + timedelta(minutes=2), "fast-client", "op-1")
    feed.record(dal, [feed.Change(ITEMS, row_id, False, ahead, None, False)])
    feed.touch(dal, ITEMS, row_id)
    assert entry(dal, row_id).version > ahead


def test_a_deleting_touch_makes_a_tombstone_that_stays(dal):
    owner = new_user(dal)
    item_id = new_item(dal, owner)
    feed.touch(dal, ITEMS, item_id, owner_id=owner, new=True)
    dal(dal.item.id == item_id).delete()
    feed.touch(dal, ITEMS, item_id, deleted=True)
    tombstone = entry(dal, item_id)
    assert tombstone.deleted and tombstone.seq == feed.last_seq(dal)
    assert tombstone.owner_id == owner  # its owner's clients still learn of the deletion
    dal.commit()
    # Later writes of other rows leave it in place, a tombstone still.
    feed.touch(dal, ITEMS, uuid.uuid4(), new=True)
    assert entry(dal, item_id) == tombstone
    found = feed.after(dal, [ITEMS], tombstone.seq - 1, 10)
    assert found[0] == tombstone


# --------------------------------------------------------------------------- reading


def test_after_pages_entries_in_seq_order_after_a_seq(dal):
    start = feed.last_seq(dal)
    rows = [uuid.uuid4() for _ in range(5)]
    for row_id in rows:
        feed.touch(dal, ITEMS, row_id, new=True)
    feed.touch(dal, "notes", uuid.uuid4(), new=True)  # another table: never in an items page
    feed.touch(dal, ITEMS, rows[1])  # renumbered: now the last of the items
    order = [rows[0], rows[2], rows[3], rows[4], rows[1]]
    pages, cursor = [], start
    while page := feed.after(dal, [ITEMS], cursor, 2):
        assert len(page) <= 2
        pages.append([e.row_id for e in page])
        cursor = page[-1].seq
    assert pages == [order[0:2], order[2:4], order[4:]]
    both = feed.after(dal, [ITEMS, "notes"], start, 100)
    assert [e.seq for e in both] == sorted(e.seq for e in both) and len(both) == 6


def test_after_shows_only_the_owners_entries_when_asked(dal):
    alice, bob = new_user(dal, "alice"), new_user(dal, "bob")
    start = feed.last_seq(dal)
    mine = [new_item(dal, alice) for _ in range(3)]
    theirs = [new_item(dal, bob) for _ in range(2)]
    for item_id, owner in [(mine[0], alice), (theirs[0], bob), (mine[1], alice)]:
        feed.touch(dal, ITEMS, item_id, owner_id=owner, new=True)
    feed.touch(dal, ITEMS, theirs[1], owner_id=bob, new=True)
    feed.touch(dal, ITEMS, mine[2], owner_id=alice, new=True)
    found = feed.after(dal, [ITEMS], start, 10, owner_id=alice)
    assert [e.row_id for e in found] == mine
    assert {e.owner_id for e in found} == {alice}
    assert len(feed.after(dal, [ITEMS], start, 10)) == 5
    assert [e.row_id for e in feed.after(dal, [ITEMS], found[0].seq, 1, owner_id=alice)] == [
        mine[1]
    ]


# --------------------------------------------------------------------------- bulk changes


def test_renumber_keeps_the_order_and_moves_entries_above_every_number(dal):
    rows = [uuid.uuid4() for _ in range(5)]
    for row_id in rows:
        feed.touch(dal, ITEMS, row_id, new=True)
    before = seqs(dal, rows)
    chosen = [rows[0], rows[2], rows[4]]
    query = (dal.sync_row.tbl == ITEMS) & dal.sync_row.row_id.belongs(chosen)
    versions = {r: entry(dal, r).version for r in rows}
    assert feed.renumber(dal, query) == 3
    after = dict(zip(rows, seqs(dal, rows), strict=True))
    assert after[rows[1]] == before[1] and after[rows[3]] == before[3]
    moved = [after[r] for r in chosen]
    assert moved == sorted(moved) and min(moved) > max(before)
    assert moved[-1] == feed.last_seq(dal)  # the counter covers the whole block
    assert {r: entry(dal, r).version for r in rows} == versions  # deleted=None: as they were
    assert not any(entry(dal, r).deleted for r in rows)
    # Numbers handed out later go above the block.
    feed.touch(dal, ITEMS, uuid.uuid4(), new=True)
    assert feed.last_seq(dal) == moved[-1] + 1


def test_renumber_of_nothing_takes_no_number(dal):
    feed.touch(dal, ITEMS, uuid.uuid4(), new=True)
    last = feed.last_seq(dal)
    assert feed.renumber(dal, dal.sync_row.tbl == "nothing", deleted=True) == 0
    assert feed.last_seq(dal) == last


def test_renumber_with_deleted_makes_tombstones_stamped_now(dal):
    rows = [uuid.uuid4() for _ in range(2)]
    for row_id in rows:
        feed.record(
            dal,
            [
                feed.Change(
                    ITEMS, row_id, False, feed.Version(datetime(2020, 1, 1), "c", "o"), None, False
                )
            ],
        )
    assert feed.renumber(dal, dal.sync_row.row_id.belongs(rows), deleted=True) == 2
    for row_id in rows:
        tombstone = entry(dal, row_id)
        assert tombstone.deleted
        assert tombstone.version.client_id == feed.LOCAL_CLIENT
        assert tombstone.version.ts > datetime(2020, 1, 1)


def test_bury_tombstones_the_live_entries_of_the_given_tables(dal):
    alice, bob = new_user(dal, "alice"), new_user(dal, "bob")
    items = [(new_item(dal, alice), alice), (new_item(dal, bob), bob), (new_item(dal, bob), bob)]
    for item_id, owner in items:
        feed.touch(dal, ITEMS, item_id, owner_id=owner, new=True)
    gone = items[2][0]
    feed.touch(dal, ITEMS, gone, deleted=True)
    old_tombstone = entry(dal, gone)
    note = uuid.uuid4()
    feed.touch(dal, "notes", note, new=True)
    note_entry = entry(dal, note, "notes")
    assert feed.bury(dal, [ITEMS]) == 2
    buried = [entry(dal, item_id) for item_id, _ in items[:2]]
    assert all(e.deleted for e in buried)
    assert all(e.seq > note_entry.seq for e in buried)
    assert entry(dal, gone) == old_tombstone  # a tombstone already: left as it was
    assert entry(dal, note, "notes") == note_entry
    assert feed.bury(dal, [ITEMS]) == 0


def test_bury_with_an_owner_tombstones_only_that_owners_entries(dal):
    alice, bob = new_user(dal, "alice"), new_user(dal, "bob")
    hers = [new_item(dal, alice) for _ in range(2)]
    his = new_item(dal, bob)
    for item_id in hers:
        feed.touch(dal, ITEMS, item_id, owner_id=alice, new=True)
    feed.touch(dal, ITEMS, his, owner_id=bob, new=True)
    his_entry = entry(dal, his)
    assert feed.bury(dal, [ITEMS], owner_id=alice) == 2
    assert all(entry(dal, item_id).deleted for item_id in hers)
    assert entry(dal, his) == his_entry


def test_record_cascade_renumbers_deleted_and_changed_rows(dal):
    parent, child, untouched = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    feed.touch(dal, "parents", parent, new=True)
    feed.touch(dal, "children", child, new=True)
    feed.touch(dal, "children", untouched, new=True)
    last = feed.last_seq(dal)
    child_version = entry(dal, child, "children").version
    kept = entry(dal, untouched, "children")
    feed.record_cascade(dal, {"parents": {parent}}, {"children": {child}})
    removed, changed = entry(dal, parent, "parents"), entry(dal, child, "children")
    assert removed.deleted and removed.seq > last
    assert not changed.deleted and changed.seq > last
    assert changed.version == child_version  # a cascade's change keeps the row's version
    assert feed.last_seq(dal) == max(removed.seq, changed.seq)
    assert entry(dal, untouched, "children") == kept
    feed.record_cascade(dal, {}, {"children": set()})  # nothing to do
    assert feed.last_seq(dal) == max(removed.seq, changed.seq)


def test_register_new_rows_adds_entries_for_rows_without_one(dal):
    owner = new_user(dal)
    base = datetime(2024, 5, 1, 12, 0, 0, 123456)
    known = new_item(dal, owner, created_at=base)
    feed.touch(dal, ITEMS, known, owner_id=owner, new=True)
    known_entry = entry(dal, known)
    # Inserted in bulk, out of creation order.
    later = new_item(dal, owner, created_at=base + timedelta(seconds=2))
    earlier = new_item(dal, owner, created_at=base + timedelta(seconds=1))
    start = feed.last_seq(dal)
    before = utcnow()
    assert feed.register_new_rows(dal, ITEMS, dal.item, owner_id=owner) == 2
    assert seqs(dal, [earlier, later]) == [start + 1, start + 2]
    assert feed.last_seq(dal) == start + 2
    added = entry(dal, earlier)
    assert not added.deleted and added.owner_id == owner
    assert added.version.client_id == feed.LOCAL_CLIENT
    assert before <= added.version.ts <= utcnow()
    assert entry(dal, known) == known_entry
    assert feed.register_new_rows(dal, ITEMS, dal.item, owner_id=owner) == 0
    assert feed.last_seq(dal) == start + 2


def test_register_new_rows_brings_a_reinserted_row_back_to_life(dal):
    owner = new_user(dal)
    item_id = new_item(dal, owner)
    feed.touch(dal, ITEMS, item_id, owner_id=owner, new=True)
    feed.touch(dal, ITEMS, item_id, deleted=True)
    tombstone = entry(dal, item_id)
    assert feed.register_new_rows(dal, ITEMS, dal.item, owner_id=owner) == 1
    live = entry(dal, item_id)
    assert not live.deleted and live.seq > tombstone.seq
