"""Local checkpoint folders: made private, and trusted only when no other user can write there.

The rule, for a folder on this machine's disk: it is shared, and checkpoints in it could have
been planted by another user, when it (or the folder holding it) is writable by every user, or
when it belongs to a user other than the one running (or root). Saving into a shared folder
warns; loading from one is refused (the checkpoint helper raises). Object stores (s3://, gs://)
are guarded by their own permissions and never checked here. Standard library only.
"""
from __future__ import annotations

import os
import stat


def make_private(path: str) -> None:
    """Create `path` and the folders missing above it with mode 0700; existing ones stay."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another writer: its mode is its maker's
        os.chmod(folder, 0o700)  # whatever the umask


def shared_reason(path: str) -> str | None:
    """Why another user could plant files in the folder `path`, or None if they cannot."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    me = os.geteuid() if hasattr(os, "geteuid") else None
    if me is not None and st.st_uid not in (me, 0):
        return "it belongs to another user (uid %d)" % st.st_uid
    if st.st_mode & stat.S_IWOTH:
        return "it is writable by every user (mode %04o)" % stat.S_IMODE(st.st_mode)
    parent = os.path.dirname(os.path.abspath(path))
    pst = os.stat(parent)
    if pst.st_mode & stat.S_IWOTH and not pst.st_mode & stat.S_ISVTX:
        return "%s above it is writable by every user without the sticky bit" % parent
    return None
