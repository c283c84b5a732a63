"""Private files: the data dir 0700 and everything in it 0600 on POSIX.

Issue 14 found the data dir 0755 and the databases, backups and logs 0644: readable by every
local account. The serving process creates files with a 0077 umask, and at start-up tightens
what an older version (or a copy) left open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> None:
    """Create files 0600 and folders 0700 from now on, and make ``data_dir``'s contents so."""
    if os.name != "posix":
        return  # Windows: the per-user profile folder's ACL already keeps other users out
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    _tighten(data_dir)
    for root, folders, files in os.walk(data_dir):
        for name in (*folders, *files):
            _tighten(Path(root) / name)


def _tighten(path: Path) -> None:
    # Only group and others lose access: a file the owner made read-only stays read-only.
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:
        pass  # vanished meanwhile, or not ours: nothing to protect here
