"""The one home for writing files: every output is written under a temporary name beside its final
path and renamed into place, so an interrupted write never leaves a half-written file where a
complete one was (the previous version survives). Also where a written file says what made it, and a file's
SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same folder, same suffix) to write to; on success it
    is renamed onto ``path`` (mode 0644), on any error it is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_npz(path: str | os.PathLike, arrays: dict) -> Path:
    """Write ``arrays`` (name -> numpy array) as an npz that ``np.load`` reads, atomically, with fixed member
    timestamps and order and no pickles: equal arrays give equal bytes (on the same zlib)."""
    import io
    import zipfile

    import numpy as np

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arr, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue(), compresslevel=9)
    return atomic_write_bytes(path, buf.getvalue())


def save_figure(fig, path: str | os.PathLike, dpi: int = 110, tight: bool = True) -> Path:
    """Save a matplotlib figure as PNG at ``dpi`` atomically (``tight``: crop to its contents; off
    where the pixel size must be exact), then close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight" if tight else None)
    finally:
        plt.close(fig)
    return Path(path)


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit of the source tree (with ``+dirty`` when modified), or None."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path``, as hex (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
