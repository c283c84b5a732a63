"""The peer the benchmarks measure the service against: the template's stack, done idiomatically.

FastAPI + SQLModel under uvicorn on SQLite in WAL mode, with the same ``user`` and ``item`` tables
and indexes as the service's main database and the same items endpoints, written the way the
FastAPI full-stack template writes them (one Session per request through a dependency, the acting
user through another). No auth: like the service with auth off, every request acts as one local
superuser created at start. Used only by ``bench/``; needs ``requirements-bench.txt``.
"""
