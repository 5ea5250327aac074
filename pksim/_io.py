"""Atomic output files: written to a temporary file beside the target, fsynced, then renamed.

A reader (or a resumed run) therefore sees either the old file or the complete new one, never a
partial file — the CLI's "no partial output" rule and the sweep runner's resumability rest on it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pksim.errors import InputError


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def new_file_mode() -> int:
    """Permissions of an ordinary new file under the current umask (mkstemp files start 0600)."""
    return 0o666 & ~_umask()


def fsync_replace(tmp: str, target: Path) -> None:
    """Make ``tmp`` durable with ordinary permissions and rename it onto ``target``."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, new_file_mode())
    os.replace(tmp, target)
    try:  # make the rename itself durable
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def atomic_write(path: str | os.PathLike, writer, field: str = "out") -> None:
    """Call ``writer(tmp_path)``, then move the finished file onto ``path``.

    Missing parent directories are created (and removed again if the write fails). A target
    that is a directory, and any operating-system error (no space, no permission, a read-only
    or virtual file system), is an :class:`InputError` naming ``field``; no partial file stays.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(field, f"{str(target)!r} is a directory", "a file name")
    parent = target.parent if str(target.parent) else Path(".")
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        writer(tmp)
        fsync_replace(tmp, target)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        for p in created:
            try:
                p.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise InputError(
                field, f"cannot write {str(target)!r}: {exc.strerror or exc}"
            ) from None
        raise


def atomic_write_dir(out: str | os.PathLike, writers: dict, field: str = "out") -> None:
    """Write ``{file name: writer(path)}`` into the directory ``out`` without partial files.

    A new directory is filled under a temporary name and renamed into place; in an existing
    directory every file goes through :func:`atomic_write`.
    """
    target = Path(out)
    if target.is_dir():
        for name, writer in writers.items():
            atomic_write(target / name, writer, field)
        return
    try:
        target.resolve().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(dir=target.resolve().parent, prefix=f".{target.name}.", suffix=".tmp")
        )
    except OSError as exc:
        raise InputError(field, f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    try:
        for name, writer in writers.items():
            writer(str(tmp / name))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give an ordinary directory
        for name in writers:
            os.chmod(tmp / name, new_file_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise InputError(field, f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
        raise
