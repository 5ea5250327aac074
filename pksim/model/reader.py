"""Typed access to a parsed TOML table, with errors that name the file and the field.

Every section reader goes through :class:`TableReader`, so a wrong type, an unknown key, a value
outside its allowed set or a dangling reference reads the same in every section.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from pksim.errors import ModelFileError


class TableReader:
    """Reads the fields of one model file; :meth:`fail` builds the error to raise."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, problem: str) -> ModelFileError:
        return ModelFileError(self.path, where, problem)

    def get(
        self,
        table: dict,
        key: str,
        where: str,
        kind: type | tuple,
        required: bool = True,
        default: Any = None,
    ) -> Any:
        if key not in table:
            if required:
                raise self.fail(f"{where}.{key}" if where else key, "missing required field")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(
                f"{where}.{key}" if where else key, f"expected {kind_name(kinds)}, got a boolean"
            )
        if not isinstance(value, kinds):
            raise self.fail(
                f"{where}.{key}" if where else key,
                f"expected {kind_name(kinds)}, got {type(value).__name__}",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"{where}.{key}" if where else key, "must be a finite number")
        return value

    def check_keys(self, table: dict, allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                where or "top level",
                f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
            )

    def pair(
        self, table: dict, key: str, where: str, required: bool = True
    ) -> tuple[float, float] | None:
        raw = self.get(table, key, where, list, required=required)
        if raw is None:
            return None
        if len(raw) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw
        ):
            raise self.fail(f"{where}.{key}", "expected a list of two numbers [low, high]")
        lo, hi = float(raw[0]), float(raw[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise self.fail(f"{where}.{key}", f"expected low <= high, got [{lo}, {hi}]")
        return lo, hi

    def tables(
        self,
        entries: dict | list,
        prefix: str,
        allowed: set[str],
        problem: str = "expected a table",
    ) -> Iterator[tuple[Any, dict, str]]:
        """``(key or index, table, where)`` of each entry of a table of tables or an array of
        tables, each checked to be a table with only ``allowed`` keys."""
        items = entries.items() if isinstance(entries, dict) else enumerate(entries)
        for key, table in items:
            where = f"{prefix}.{key}" if isinstance(entries, dict) else f"{prefix}[{key}]"
            if not isinstance(table, dict):
                raise self.fail(where, problem)
            self.check_keys(table, allowed, where)
            yield key, table, where

    def one_of(
        self, table: dict, key: str, where: str, allowed: Sequence[str], noun: str, **kw: Any
    ) -> Any:
        """A string field that must be one of ``allowed`` (``kw`` as for :meth:`get`)."""
        value = self.get(table, key, where, str, **kw)
        if value is not None and value not in allowed:
            raise self.fail(
                f"{where}.{key}" if where else key,
                f"unknown {noun} {value!r}; allowed: {', '.join(allowed)}",
            )
        return value

    def source(self, table: dict, where: str, refs: dict) -> str:
        """The ``source`` field: a key of ``[references]``."""
        source = self.get(table, "source", where, str)
        if source not in refs:
            raise self.fail(f"{where}.source", f"{source!r} is not a key of [references]")
        return source


def kind_name(kinds: tuple) -> str:
    names = {
        str: "a string",
        float: "a number",
        int: "an integer",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)
