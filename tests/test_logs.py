"""The request log: rotated by size, written by one thread, flushed once per batch."""

from __future__ import annotations

import logging
import time

import pytest

from app import logs


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs._stop_listener()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines_when_written(path, last: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            if lines and lines[-1].endswith(last):
                return lines
        time.sleep(0.02)
    raise AssertionError(f"{last!r} was not written to {path} within {timeout} s")


def _file_handler(path, max_bytes: int) -> logs.LogFile:
    handler = logs.LogFile(path, maxBytes=max_bytes, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("app.request", logging.INFO, __file__, 1, message, None, None)


def test_a_line_is_in_the_file_while_the_service_runs_not_only_at_its_stop(tmp_path, root_logging):
    logs.configure("INFO", tmp_path)
    logging.getLogger("app.request").info("GET %s %s", "/api/v1/items/", 200)
    lines = _lines_when_written(tmp_path / "logs" / "service.log", "GET /api/v1/items/ 200")
    assert len(lines) == 1


def test_a_burst_is_written_whole_and_in_order(tmp_path, root_logging):
    logs.configure("INFO", tmp_path)
    log = logging.getLogger("app.request")
    for n in range(5000):
        log.info("line %05d", n)
    lines = _lines_when_written(tmp_path / "logs" / "service.log", "line 04999")
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"{n:05d}" for n in range(5000)]


def test_the_file_rotates_before_a_record_would_take_it_past_its_size(tmp_path):
    path = tmp_path / "service.log"
    path.write_bytes(b"x" * 900 + b"\n")  # a file left by an earlier start counts
    handler = _file_handler(path, max_bytes=1000)
    try:
        handler.emit(_record("a" * 150))
        assert (tmp_path / "service.log.1").read_bytes() == b"x" * 900 + b"\n"
        # Multi-byte characters count as the bytes they take: 4 x 201 bytes fit, a fifth not.
        for _ in range(5):
            handler.emit(_record("é" * 100))
    finally:
        handler.close()
    assert path.read_text(encoding="utf-8") == "é" * 100 + "\n"
    assert (tmp_path / "service.log.1").read_text(encoding="utf-8") == (
        "a" * 150 + "\n" + ("é" * 100 + "\n") * 4
    )
    assert (tmp_path / "service.log.2").read_bytes() == b"x" * 900 + b"\n"
    for name in ("service.log", "service.log.1", "service.log.2"):
        assert (tmp_path / name).stat().st_size <= 1000


def test_an_unflushed_batch_is_written_when_the_handler_closes(tmp_path):
    path = tmp_path / "service.log"
    handler = _file_handler(path, max_bytes=10_000)
    handler.emit(_record("last words"))
    handler.close()
    assert path.read_text(encoding="utf-8") == "last words\n"


def test_lines_go_to_the_stderr_of_the_moment_not_to_a_replaced_one(
    tmp_path, root_logging, monkeypatch
):
    import io

    logs.configure("INFO", tmp_path)
    log = logging.getLogger("app.request")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    log.info("to the first")
    _lines_when_written(tmp_path / "logs" / "service.log", "to the first")
    first.close()  # as a test's captured stderr is once the test ends
    monkeypatch.setattr("sys.stderr", second)
    log.info("to the second")
    _lines_when_written(tmp_path / "logs" / "service.log", "to the second")
    deadline = time.monotonic() + 5
    while "to the second" not in second.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second.getvalue().rstrip().endswith("to the second")
