"""Regimen presets (``pksim_app/data/presets.toml``): published regimens with their citation.

No Streamlit here: the couple planner's widgets apply a preset through
:func:`pksim_app.widgets.apply_regimen`. Each preset's doses are checked with the library's
dose-spec parser when the file is read, so a typo in the data file fails a test, not a session.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pksim.regimen import Dose, parse_dose_spec

PRESETS_FILE = Path(__file__).resolve().parent / "data" / "presets.toml"


@dataclass(frozen=True)
class Reference:
    key: str
    citation: str
    url: str
    note: str


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    doses: tuple[Dose, ...]
    source: Reference
    tag: str
    model: str | None = None  # the model the preset needs (None: any model with its routes)

    @property
    def routes(self) -> set[str]:
        return {d.route for d in self.doses}

    def fits(self, model) -> bool:
        """Usable with ``model`` (its routes exist there and it needs no other model)."""
        return (self.model is None or self.model == model.id) and self.routes <= set(model.routes)


@cache
def load_presets(path: Path = PRESETS_FILE) -> tuple[Preset, ...]:
    """Every preset in the data file, in file order."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    refs = {
        k: Reference(k, r["citation"], r.get("url", ""), r.get("note", ""))
        for k, r in data.get("references", {}).items()
    }
    out = []
    for p in data.get("preset", []):
        if p["source"] not in refs:
            raise ValueError(f"{path.name}: preset {p['id']}: unknown source {p['source']!r}")
        out.append(
            Preset(
                id=p["id"],
                label=p["label"],
                doses=tuple(parse_dose_spec(s) for s in p["doses"]),
                source=refs[p["source"]],
                tag=p.get("tag", ""),
                model=p.get("model"),
            )
        )
    return tuple(out)
