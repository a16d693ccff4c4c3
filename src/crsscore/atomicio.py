"""Atomic output files: write to a temporary file in the same folder, then ``os.replace``.

Two runs writing the same path never interleave (each replaces the file whole; the last one
wins), an interrupted run leaves no partial file, and every operating-system failure
(missing folder, a folder where a file is expected, no permission, full disk) becomes an
:class:`OutputError` naming the path and the reason, which the command line shows as a clear
message with exit status 2.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from crsscore.errors import CrsscoreError


class OutputError(CrsscoreError):
    """An output file that cannot be written (folder missing, not a file, no permission)."""


def _reason(exc: OSError, path: Path) -> str:
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return "it is a folder; give a file name"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError) or not path.parent.exists():
        return f"the folder {path.parent} does not exist"
    if isinstance(exc, NotADirectoryError):
        return f"a part of {path.parent} is a file, not a folder"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or type(exc).__name__


def output_error(exc: OSError, path: str | Path, what: str = "file") -> OutputError:
    """An :class:`OutputError` for ``exc`` raised while writing ``path``."""
    p = Path(path)
    return OutputError(f"cannot write the output {what} {p}: {_reason(exc, p)}")


def ensure_folder(path: str | Path) -> Path:
    """Create the output folder ``path`` (and its parents); refuse a file in its place."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"cannot write outputs into {p}: it is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if isinstance(exc, PermissionError):
            raise OutputError(f"cannot create the output folder {p}: permission denied") \
                from None
        raise OutputError(f"cannot create the output folder {p}: "
                          f"{exc.strerror or type(exc).__name__}") from None
    return p


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    The folder must exist (outputs never create folders silently); a folder at ``path`` is
    refused.  On any error the temporary file is removed and ``path`` is left as it was.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"cannot write the output file {p}: it is a folder; give a file name")
    binary = "b" in mode
    fh: IO[Any]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    except OSError as exc:
        raise output_error(exc, p) from None
    try:
        try:
            if binary:
                fh = os.fdopen(fd, "wb")
            else:
                fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:  # mkstemp makes 0600: keep an existing file's mode, else the usual 0644
            perm = p.stat().st_mode & 0o777 if p.exists() else 0o644
            os.chmod(tmp, perm)
        except OSError:  # pragma: no cover - chmod refused: keep mkstemp's 0600
            pass
        try:
            os.replace(tmp, p)
        except OSError as exc:
            raise output_error(exc, p) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (pyarrow,
    matplotlib); on success it replaces ``path`` atomically, on error it is removed."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"cannot write the output file {p}: it is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
        os.close(fd)
    except OSError as exc:
        raise output_error(exc, p) from None
    try:
        try:
            yield Path(tmp)
            os.chmod(tmp, p.stat().st_mode & 0o777 if p.exists() else 0o644)
            os.replace(tmp, p)
        except OSError as exc:
            raise output_error(exc, p) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    try:
        with atomic_open(path, "w", encoding=encoding) as fh:
            fh.write(text)
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(exc, path) from None
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    try:
        with atomic_open(path, "wb") as fh:
            fh.write(data)
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(exc, path) from None
    return Path(path)


def write_csv(path: str | Path, frame: pd.DataFrame, *, index: bool = False,
              neutralise: bool = True, **kwargs: Any) -> Path:
    """Write ``frame`` as CSV atomically; text cells that a spreadsheet would run as formulas
    (``=``, ``+``, ``-``, ``@``...) are neutralised first (see :mod:`crsscore.csvsafe`)."""
    from crsscore.csvsafe import neutralise_frame

    data = neutralise_frame(frame) if neutralise else frame
    buf = io.StringIO()
    data.to_csv(buf, index=index, **kwargs)
    return write_text(path, buf.getvalue())


__all__ = ["OutputError", "atomic_open", "atomic_path", "ensure_folder", "output_error", "write_bytes",
           "write_csv", "write_text"]
