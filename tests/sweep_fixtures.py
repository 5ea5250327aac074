"""Shared sweep files for tests, written from Python values (one writer instead of a TOML text
per test module). Tests that assert file line numbers keep their literal text.

It lives outside any test module so that test modules never import each other.
"""

from __future__ import annotations


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def sweep_toml(
    sweep: dict,
    doses: list[dict],
    *,
    analysis: dict | None = None,
    output: dict | None = None,
    grid: dict | None = None,
    pairs: list[dict] = (),
) -> str:
    """A sweep file: ``[sweep]``, the optional tables, one ``[[grid.pair]]`` per pair, then
    one ``[[grid.dose]]`` per dose (a test may append keys to the last dose)."""
    lines = []
    for name, table in (("sweep", sweep), ("analysis", analysis), ("output", output)):
        if table is not None:
            lines += [f"[{name}]", *(f"{k} = {_value(v)}" for k, v in table.items())]
    if grid is not None:
        lines += ["[grid]", *(f"{k} = {_value(v)}" for k, v in grid.items())]
    for name, tables in (("pair", pairs), ("dose", doses)):
        for table in tables:
            lines += [f"[[grid.{name}]]", *(f"{k} = {_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


# A 3.4 KB file describing 200 amounts x 200 starts x 200 durations in one slot (8 M options).
HUGE_SLOT_SWEEP = sweep_toml(
    {"seed": 1, "n_subjects": 10},
    [
        {
            "route": "iv",
            **dict.fromkeys(("amount_mg", "start_min", "duration_min"), [*range(1, 201)]),
        }
    ],
    analysis={"t_end_min": 10000},
    grid={"weight_kg": [70]},
)
