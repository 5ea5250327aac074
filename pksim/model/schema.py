"""The :class:`Model` and its parts: what a model file declares, after validation.

Every object is frozen, so a loaded model can be cached and shared between threads. Parameter
values are in internal units (mg, L, min); the allowed values of each enumerated field are the
tuples below, which the section readers check against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pksim.errors import InputError

SCHEMA_VERSION = 1
TAGS = ("verbatim", "derived", "calibrated", "secondary", "assumed")
DRUGS = ("racemic", "esketamine")
SINK = "elimination"
BAND_ROLES = ("below_window", "window", "dissociation", "hypnosis", "anaesthesia")
PATHWAY_INPUTS = ("bolus", "zero_order")
CALIBRATION_STATISTICS = ("cmax", "tmax", "auc", "f")
SAMPLING_SITES = ("arterial", "venous")
COMPARTMENT_KINDS = ("depot", "central", "peripheral", "liver")
DISTRIBUTIONS = ("lognormal", "logitnormal")
DOSE_FORMS = ("hydrochloride", "base")
PD_EFFECTS = {
    # effect -> required parameters; units are part of the names
    # quantal log-normal threshold on the effect site (pksim.pd): median C50, log-SD omega
    "dissociation": ("c50_ng_per_ml", "omega"),
}


@dataclass(frozen=True)
class Reference:
    key: str
    citation: str
    doi: str | None
    pmid: str | None
    note: str | None


@dataclass(frozen=True)
class Parameter:
    """One model parameter, stored in internal units for the reference person."""

    name: str
    value: float
    unit: str  # internal unit
    dimension: str
    published_value: float
    published_unit: str
    description: str
    source: str  # reference key
    source_detail: str | None
    tag: str
    note: str | None
    range: tuple[float, float] | None  # plausible range in published units (uncertainty)


@dataclass(frozen=True)
class Compartment:
    name: str
    kind: str  # depot | central | peripheral | liver
    volume: str | None  # parameter name


@dataclass(frozen=True)
class Transfer:
    """First-order transfer, rate ``rate``, ``clearance / V_source`` or ``steps / mean_time``."""

    source: str
    target: str  # compartment name or SINK
    rate: str | None  # parameter name (1/min)
    clearance: str | None  # parameter name (L/min), divided by the source volume
    mean_time: str | None = None  # parameter name (min): one step of a transit chain
    steps: int = 1  # number of compartments of that chain (rate = steps / mean_time)


@dataclass(frozen=True)
class TransitChain:
    """``n`` compartments in series, each left at rate ``n / mean_transit_time``.

    The time from entering the first to leaving the last is Erlang(n)-distributed with mean
    ``mean_transit_time``: a smooth, delayed absorption with no lag discontinuity (Savic et al.
    2007, doi:10.1007/s10928-007-9041-1). A pathway or a hold that targets the chain's ``name``
    enters its first compartment, ``NAME_1``.
    """

    name: str
    n: int
    mean_transit_time: str  # parameter name (min)
    target: str
    description: str

    @property
    def compartments(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_{i}" for i in range(1, self.n + 1))


@dataclass(frozen=True)
class Pathway:
    """Part of a dose that takes one way into the body (e.g. the swallowed part of a lozenge)."""

    name: str
    target: str
    fraction: float | str | None  # literal, parameter name, or None = the rest
    bioavailability: float | str
    lag: float | str
    input: str  # bolus | zero_order
    duration: float | str | None  # for zero_order


@dataclass(frozen=True)
class Hold:
    """Hold-then-swallow: a dose held in ``compartment`` until the hold ends, then moved.

    The held compartment has no inflow and only first-order outflows (the loader checks it), so
    what is left at the end of the hold is ``amount * exp(-k_out * hold)`` exactly; at that time
    it is moved to ``swallow_to`` (scaled by ``swallow_bioavailability``) or spat out.
    """

    compartment: str
    default_min: str  # parameter name (time): the hold when a dose does not give one
    swallow_to: str  # compartment receiving what is swallowed
    swallow_bioavailability: float | str


@dataclass(frozen=True)
class Sprays:
    """A dose given as several sprays (or devices): equal parts ``default_interval`` apart; the
    ``pathway``'s fraction of every spray after the first is multiplied by ``later_factor``
    (Perez-Ruixo 2021: 0.62 for the 2nd and later esketamine devices)."""

    default_interval: str  # parameter name (time)
    pathway: str  # name of the pathway whose fraction later sprays reduce
    later_factor: float | str


@dataclass(frozen=True)
class Route:
    name: str
    description: str
    allows_duration: bool
    pathways: tuple[Pathway, ...]
    hold: Hold | None = None
    sprays: Sprays | None = None
    label: str | None = None  # human name for front ends ("Sublingual lozenge")
    product_step_mg: float | None = None  # practical dose step (lozenge strength, spray volume)
    # words that mark a text (a known bias) as about this route: each matches at the start of a
    # word, ignoring case; words in capitals (abbreviations: "IV", "SL") only as whole words
    words: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        """Dose-spec options this route accepts (see :mod:`pksim.regimen`)."""
        out = ("duration",) if self.allows_duration else ()
        out += ("hold", "swallow", "spit") if self.hold else ()
        return out + (("sprays", "every") if self.sprays else ())


@dataclass(frozen=True)
class VariabilityTerm:
    parameter: str
    distribution: str  # lognormal | logitnormal
    sd: float  # SD of eta on the log or logit scale
    cv_percent: float | None
    source: str
    tag: str
    note: str | None


@dataclass(frozen=True)
class Band:
    role: str
    label: str
    lower_ng_per_ml: float
    lower_range_ng_per_ml: tuple[float, float] | None
    source: str
    note: str | None


@dataclass(frozen=True)
class PDParameter:
    """One pharmacodynamic parameter (value in the unit its name states)."""

    name: str
    value: float
    description: str
    source: str
    source_detail: str | None
    tag: str
    note: str | None
    range: tuple[float, float] | None


@dataclass(frozen=True)
class PDEffect:
    """An optional effect model, e.g. ``[pd.dissociation]`` (log-normal threshold on the effect
    site, :mod:`pksim.pd`)."""

    name: str
    description: str
    parameters: dict[str, PDParameter]
    calibration: str | None = None  # what the parameters were calibrated to


@dataclass(frozen=True)
class DoseBasis:
    """Which salt form a plain ``mg`` dose means, and the molar masses to convert the other."""

    form: str  # "hydrochloride" | "base"
    molar_mass_base_g_per_mol: float
    molar_mass_hydrochloride_g_per_mol: float
    source: str
    note: str | None

    def factor(self, salt: str | None) -> float:
        """Multiplier from an amount of ``salt`` ("hcl", "base", None: this basis) to this."""
        if salt is None:
            return 1.0
        given = "hydrochloride" if salt == "hcl" else "base"
        if given == self.form:
            return 1.0
        ratio = self.molar_mass_hydrochloride_g_per_mol / self.molar_mass_base_g_per_mol
        return ratio if self.form == "hydrochloride" else 1.0 / ratio


@dataclass(frozen=True)
class CalibrationTarget:
    """An observed arm (id in the observations CSV) and which of its statistics were fitted."""

    arm: str
    statistics: tuple[str, ...]  # of CALIBRATION_STATISTICS


@dataclass(frozen=True)
class CalibrationSpec:
    """``[calibration]``: what was fitted to what, so a fit is reproducible and validation
    knows what is in-sample. ``parameters`` may be empty (values borrowed from a fit elsewhere:
    the targets are then still in-sample)."""

    summary: str
    parameters: tuple[str, ...]
    targets: tuple[CalibrationTarget, ...]

    def statistics_of(self, arm_id: str) -> tuple[str, ...]:
        """The statistics of an arm that are calibration targets (empty: external)."""
        return tuple(s for t in self.targets if t.arm == arm_id for s in t.statistics)


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    drug: str
    analyte: str
    description: str
    path: str
    sha256: str
    primary_reference: str
    references: dict[str, Reference]
    validity_weight_kg: tuple[float, float]
    validity_age_years: tuple[float, float]
    validity_population: str
    parameters: dict[str, Parameter]
    compartments: tuple[Compartment, ...]
    transfers: tuple[Transfer, ...]
    central: str
    ke0: str
    routes: dict[str, Route]
    reference_weight_kg: float
    scaling_schemes: dict[str, dict[str, float]]
    scaling_descriptions: dict[str, str]
    default_scaling: str
    sex_parameters: tuple[str, ...]
    sex_female_factor: str | None
    variability: tuple[VariabilityTerm, ...]
    correlation: np.ndarray = field(repr=False)  # over variability terms
    bands: tuple[Band, ...]
    known_biases: tuple[str, ...]
    calibration: str | None
    pd: dict[str, PDEffect] | None = None  # optional [pd.<effect>] sections
    transit_chains: tuple[TransitChain, ...] = ()
    sampling: str | None = None  # "arterial" | "venous": the blood the concentrations predict
    dose_basis: DoseBasis | None = None  # salt form a plain "mg" dose is taken to be
    calibration_spec: CalibrationSpec | None = None  # structured [calibration] table

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        """Kernel state order: compartments, then the effect site, then the sink.

        Cached: it is read on every simulation (a frozen dataclass still allows this, as
        ``cached_property`` writes the instance ``__dict__`` directly)."""
        return tuple(c.name for c in self.compartments) + ("effect_site", SINK)

    def state_index(self, name: str) -> int:
        return self.state_names.index(name)

    def band(self, role: str) -> Band:
        for b in self.bands:
            if b.role == role:
                return b
        raise InputError("band role", f"unknown role {role!r}", ", ".join(BAND_ROLES))

    def band_edges_ng_per_ml(self) -> dict[str, tuple[float, float]]:
        """``role -> (lower, upper)``; the top band's upper edge is infinity."""
        edges = {}
        for i, b in enumerate(self.bands):
            upper = self.bands[i + 1].lower_ng_per_ml if i + 1 < len(self.bands) else math.inf
            edges[b.role] = (b.lower_ng_per_ml, upper)
        return edges

    def window_ng_per_ml(self) -> tuple[float, float]:
        return self.band_edges_ng_per_ml()["window"]

    @property
    def dose_basis_form(self) -> str | None:
        """What a plain ``mg`` dose means: ``"hydrochloride"``, ``"base"`` or None (not stated).
        Every output records it, so a number is never read against the wrong salt form."""
        return self.dose_basis.form if self.dose_basis is not None else None

    def citation(self) -> str:
        ref = self.references[self.primary_reference]
        ids = ", ".join(
            x
            for x in (f"doi:{ref.doi}" if ref.doi else "", f"PMID {ref.pmid}" if ref.pmid else "")
            if x
        )
        return f"{ref.citation}" + (f" ({ids})" if ids else "")
