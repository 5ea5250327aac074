"""The model library on disk: where model files are, loading them (cached), listing them and
the routes they offer.

Parsing and validating a file takes milliseconds and a simulation tens of microseconds, so
:func:`load_model` caches models by file identity and stamp (they are frozen, safe to share).
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import threading
import time
import tomllib
from collections import OrderedDict
from pathlib import Path

from pksim import model_checks
from pksim.errors import InputError, ModelFileError
from pksim.model.build import build_model
from pksim.model.schema import Model

DEFAULT_MODEL = "ketamine"
_SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def models_dir() -> Path:
    """Directory of the shipped model files (``PKSIM_MODELS_DIR`` overrides it)."""
    env = os.environ.get("PKSIM_MODELS_DIR")
    if env:
        return Path(env)
    return _SHIPPED_MODELS_DIR


def load_model(name_or_path: str | os.PathLike) -> Model:
    """Load and validate a model by id (file name in :func:`models_dir`) or by path.

    Raises
    ------
    InputError
        If no model of that name exists (names the available ones).
    ModelFileError
        If the file is malformed (names file, field and problem).
    """
    path, st = _stat_model_path(name_or_path)
    # Parsing and validating a file takes milliseconds, a simulation tens of microseconds, so
    # loaded models are cached (shared objects: they are frozen). An unchanged stat of a file
    # last modified well before it was cached proves it unchanged; a file modified within
    # _RACY_NS of being cached could have been rewritten within one timestamp tick, so its
    # bytes are compared (git's "racy clean" rule).
    key = (str(path), st.st_dev, st.st_ino)
    stamp = (st.st_size, st.st_mtime_ns)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    raw_bytes = None
    if hit is not None and hit[0] == stamp:
        if hit[1] - st.st_mtime_ns > _RACY_NS:
            return hit[3]
        read_at_ns = time.time_ns()
        raw_bytes = path.read_bytes()
        if raw_bytes == hit[2]:
            with _CACHE_LOCK:  # same bytes: as good as cached now
                _CACHE[key] = (stamp, read_at_ns, raw_bytes, hit[3])
            return hit[3]
    cached_at_ns = time.time_ns()
    if raw_bytes is None:
        raw_bytes = path.read_bytes()
    model_checks.check_file_size(str(path), raw_bytes)
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(str(path), "file", f"not valid TOML: {exc}") from None
    model = build_model(data, str(path), hashlib.sha256(raw_bytes).hexdigest())
    model_checks.check_model(model, data)  # physical plausibility (bounds by dimension)
    with _CACHE_LOCK:
        _CACHE[key] = (stamp, cached_at_ns, raw_bytes, model)
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return model


def _stat_model_path(name_or_path: str | os.PathLike) -> tuple[Path, os.stat_result]:
    """The model file and its stat; a model id costs one ``stat`` call (no ``is_file`` first)."""
    text = str(name_or_path)
    if not (text.endswith(".toml") or os.sep in text):
        path = models_dir() / f"{text}.toml"
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            return path, st
    path = _resolve_model_path(name_or_path)  # raises the error that names the choices
    return path, path.stat()


# (path, device, inode) -> ((size, mtime_ns), cached_at_ns, file bytes, Model)
_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64
_RACY_NS = 3_000_000_000  # above any file-system timestamp granularity (FAT: 2 s)


def route_options() -> dict[str, tuple[str, ...]]:
    """Every route of the shipped model files, with the dose options (``duration``, ``hold``,
    ``sprays``...) it takes in at least one of them. Routes are data: the CLI, the app, sweep
    files and the dose parser offer what this returns, so a new route is a model-file section."""
    return _route_options(str(models_dir()))


@functools.cache
def _route_options(directory: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for name in sorted(p.stem for p in Path(directory).glob("*.toml")):
        for route in load_model(Path(directory) / f"{name}.toml").routes.values():
            out.setdefault(route.name, set()).update(route.options)
    return {r: tuple(sorted(o)) for r, o in out.items()}


def available_models() -> list[str]:
    """Ids of the shipped models, default first."""
    ids = sorted(p.stem for p in models_dir().glob("*.toml"))
    if DEFAULT_MODEL in ids:
        ids.remove(DEFAULT_MODEL)
        ids.insert(0, DEFAULT_MODEL)
    return ids


def _resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise InputError("model", f"file {text!r} not found")
        return path
    path = models_dir() / f"{text}.toml"
    if not path.is_file():
        raise InputError("model", f"unknown model {text!r}", ", ".join(available_models()))
    return path
