"""Where the sidecar executable is and whether it is current: shared by sidecar.spec, the
startup benchmark and the executable's tests, so all three agree on the name and the sources."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_NAME = "local-data-service"
SPEC = REPO / "sidecar.spec"
# Everything whose change changes the executable (the spec bundles alembic.ini and alembic/).
SOURCE_DIRS = ("app", "services", "alembic")
SOURCE_FILES = ("sidecar.spec", "alembic.ini", "requirements.txt")


def target_triple() -> str:
    """The Rust target triple of this machine, as Tauri suffixes externalBin names."""
    override = os.environ.get("SIDECAR_TARGET_TRIPLE", "").strip()
    if override:
        return override
    machine = platform.machine().lower()
    arch = {
        "amd64": "x86_64",
        "x86_64": "x86_64",
        "x64": "x86_64",
        "arm64": "aarch64",
        "aarch64": "aarch64",
    }.get(machine)
    if arch is None:
        raise SystemExit(f"unknown machine {machine!r}; set SIDECAR_TARGET_TRIPLE")
    if sys.platform.startswith("linux"):
        return f"{arch}-unknown-linux-gnu"
    if sys.platform == "darwin":
        return f"{arch}-apple-darwin"
    if sys.platform == "win32":
        return f"{arch}-pc-windows-msvc"
    raise SystemExit(f"unknown platform {sys.platform!r}; set SIDECAR_TARGET_TRIPLE")


def exe_name() -> str:
    """The executable's file name on this machine."""
    return f"{APP_NAME}-{target_triple()}" + (".exe" if sys.platform == "win32" else "")


def exe_path(dist: Path) -> Path:
    """The executable inside the one-dir bundle PyInstaller writes into ``dist``."""
    return dist / f"{APP_NAME}-{target_triple()}" / exe_name()


def _source_paths() -> list[Path]:
    paths = [REPO / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        paths += [
            p
            for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(p for p in paths if p.exists())


def source_digest() -> str:
    """A digest of everything the executable is built from (names and contents of the sources,
    the pinned requirements, the interpreter and PyInstaller): equal digests, equal builds."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"{sys.version}\0{version('pyinstaller')}\0".encode())
    for path in [*_source_paths(), REPO / "requirements-dev.txt"]:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def build_cache() -> Path:
    """Where finished builds are kept between test sessions and clones (outside the checkout)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_NAME / "sidecar"


def newest_source() -> tuple[float, Path]:
    """The newest modification time (and file) among what the executable is built from."""
    newest = (0.0, SPEC)
    for path in _source_paths():
        newest = max(newest, (path.stat().st_mtime, path))
    return newest


def pyinstaller_command(dist: Path, work: Path) -> list[str]:
    """The PyInstaller call that builds the spec into ``dist``."""
    return [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
