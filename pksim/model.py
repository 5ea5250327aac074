"""Model files (TOML, pure data) → validated, immutable :class:`Model` objects.

A model file declares parameters (value, unit, description, source, tag), compartments,
first-order transfers, the effect site, the routes (as absorption pathways), weight
scaling schemes, covariates, between-subject variability and concentration bands.
Nothing in a file is evaluated: parameters are referred to by name only, and every
reference is checked here so that an error names the file, the field and the problem.
Units are converted once, here, to mg, L, min (see :mod:`pksim.units`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import stat
import threading
import time
import tomllib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pksim import model_checks
from pksim.errors import InputError, ModelFileError
from pksim.units import INTERNAL_UNIT, KNOWN_UNITS, to_internal

SCHEMA_VERSION = 1
TAGS = ("verbatim", "derived", "calibrated", "secondary", "assumed")
DRUGS = ("racemic", "esketamine")
SINK = "elimination"
BAND_ROLES = ("below_window", "window", "dissociation", "hypnosis", "anaesthesia")
PATHWAY_INPUTS = ("bolus", "zero_order")
CALIBRATION_STATISTICS = ("cmax", "tmax", "auc", "f")
SAMPLING_SITES = ("arterial", "venous")


_SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def models_dir() -> Path:
    """Directory of the shipped model files (``PKSIM_MODELS_DIR`` overrides it)."""
    env = os.environ.get("PKSIM_MODELS_DIR")
    if env:
        return Path(env)
    return _SHIPPED_MODELS_DIR


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
    """First-order transfer; its rate is ``rate``, ``clearance / V_source`` or ``steps / mean_time``."""

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
        """Multiplier from an amount of ``salt`` ("hcl", "base", None = this basis) to this basis."""
        if salt is None:
            return 1.0
        given = "hydrochloride" if salt == "hcl" else "base"
        if given == self.form:
            return 1.0
        ratio = self.molar_mass_hydrochloride_g_per_mol / self.molar_mass_base_g_per_mol
        return ratio if self.form == "hydrochloride" else 1.0 / ratio


DOSE_FORMS = ("hydrochloride", "base")


PD_EFFECTS = {
    # effect -> required parameters; units are part of the names
    # quantal log-normal threshold on the effect site (pksim.pd): median C50, log-SD omega
    "dissociation": ("c50_ng_per_ml", "omega"),
}


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
        ids = ", ".join(x for x in (f"doi:{ref.doi}" if ref.doi else "",
                                     f"PMID {ref.pmid}" if ref.pmid else "") if x)
        return f"{ref.citation}" + (f" ({ids})" if ids else "")


# ----------------------------------------------------------------------------- loading


class _Reader:
    """Typed access to a parsed TOML table with errors that name file and field."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, problem: str) -> ModelFileError:
        return ModelFileError(self.path, where, problem)

    def get(self, table: dict, key: str, where: str, kind: type | tuple, required: bool = True,
            default: Any = None) -> Any:
        if key not in table:
            if required:
                raise self.fail(f"{where}.{key}" if where else key, "missing required field")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(f"{where}.{key}" if where else key, f"expected {_kind_name(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(f"{where}.{key}" if where else key,
                            f"expected {_kind_name(kinds)}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"{where}.{key}" if where else key, "must be a finite number")
        return value

    def check_keys(self, table: dict, allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(where or "top level",
                            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")

    def pair(self, table: dict, key: str, where: str, required: bool = True) -> tuple[float, float] | None:
        raw = self.get(table, key, where, list, required=required)
        if raw is None:
            return None
        if len(raw) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise self.fail(f"{where}.{key}", "expected a list of two numbers [low, high]")
        lo, hi = float(raw[0]), float(raw[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise self.fail(f"{where}.{key}", f"expected low <= high, got [{lo}, {hi}]")
        return lo, hi


def _kind_name(kinds: tuple) -> str:
    names = {str: "a string", float: "a number", int: "an integer", bool: "true/false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


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
    model = _build_model(data, str(path), hashlib.sha256(raw_bytes).hexdigest())
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
    if "ketamine" in ids:
        ids.remove("ketamine")
        ids.insert(0, "ketamine")
    return ids


DEFAULT_MODEL = "ketamine"


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


_TOP_KEYS = {"schema_version", "id", "name", "drug", "analyte", "description", "primary_reference",
             "references", "validity", "parameters", "compartments", "transfers", "effect_site",
             "routes", "weight_scaling", "covariates", "variability", "bands", "known_biases",
             "calibration", "pd", "transit_chains", "sampling", "dose_basis"}


def _build_model(data: dict, path: str, sha: str) -> Model:
    r = _Reader(path)
    r.check_keys(data, _TOP_KEYS, "")
    version = r.get(data, "schema_version", "", int)
    if version != SCHEMA_VERSION:
        raise r.fail("schema_version", f"expected {SCHEMA_VERSION}, got {version}")
    model_id = r.get(data, "id", "", str)
    drug = r.get(data, "drug", "", str)
    if drug not in DRUGS:
        raise r.fail("drug", f"unknown drug {drug!r}; allowed: {', '.join(DRUGS)}")

    references = _read_references(r, data)
    sampling = _read_sampling(r, data)
    primary = r.get(data, "primary_reference", "", str)
    if primary not in references:
        raise r.fail("primary_reference", f"{primary!r} is not a key of [references]")

    validity = r.get(data, "validity", "", dict)
    r.check_keys(validity, {"weight_kg", "age_years", "population"}, "validity")

    scaling = r.get(data, "weight_scaling", "", dict)
    r.check_keys(scaling, {"reference_weight_kg", "default", "schemes"}, "weight_scaling")
    ref_wt = r.get(scaling, "reference_weight_kg", "weight_scaling", float)
    if not ref_wt > 0:
        raise r.fail("weight_scaling.reference_weight_kg", "must be > 0")

    params = _read_parameters(r, data, references, ref_wt)

    def param_ref(value: Any, where: str, dimension: str | None = None) -> Any:
        if isinstance(value, str):
            if value not in params:
                raise r.fail(where, f"refers to unknown parameter {value!r}")
            if dimension and params[value].dimension != dimension:
                raise r.fail(where, f"parameter {value!r} has dimension {params[value].dimension}, "
                             f"expected {dimension} ({INTERNAL_UNIT[dimension]})")
        return value

    compartments = _read_compartments(r, data, param_ref)
    chains = _read_transit_chains(r, data, [c.name for c in compartments], param_ref)
    compartments += [Compartment(n, "depot", None) for ch in chains for n in ch.compartments]
    names = [c.name for c in compartments]
    centrals = [c.name for c in compartments if c.kind == "central"]
    if len(centrals) != 1:
        raise r.fail("compartments", f"exactly one compartment must have kind 'central', found {len(centrals)}")
    transfers = _read_transfers(r, data, names, compartments, param_ref)
    transfers += _chain_transfers(r, chains, names)
    _check_all_drain(r, names, transfers)
    entry = {ch.name: ch.compartments[0] for ch in chains}

    effect = r.get(data, "effect_site", "", dict)
    r.check_keys(effect, {"ke0"}, "effect_site")
    ke0 = param_ref(r.get(effect, "ke0", "effect_site", str), "effect_site.ke0", "rate")

    routes = _read_routes(r, data, names, entry, transfers, param_ref)

    schemes, scheme_desc = {}, {}
    raw_schemes = r.get(scaling, "schemes", "weight_scaling", dict)
    for sname, sdef in raw_schemes.items():
        where = f"weight_scaling.schemes.{sname}"
        if not isinstance(sdef, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(sdef, {"description", "exponents"}, where)
        scheme_desc[sname] = r.get(sdef, "description", where, str)
        exps = r.get(sdef, "exponents", where, dict)
        for p, e in exps.items():
            param_ref(p, f"{where}.exponents.{p}")
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
                raise r.fail(f"{where}.exponents.{p}", "expected a finite number")
        schemes[sname] = {p: float(e) for p, e in exps.items()}
    default_scaling = r.get(scaling, "default", "weight_scaling", str)
    if default_scaling not in schemes:
        raise r.fail("weight_scaling.default", f"{default_scaling!r} is not one of the schemes "
                     f"({', '.join(schemes)})")

    sex_params: tuple[str, ...] = ()
    sex_factor = None
    covariates = r.get(data, "covariates", "", dict, required=False, default={})
    r.check_keys(covariates, {"sex"}, "covariates")
    if "sex" in covariates:
        sex = r.get(covariates, "sex", "covariates", dict)
        r.check_keys(sex, {"parameters", "female_factor"}, "covariates.sex")
        sex_params = tuple(param_ref(p, "covariates.sex.parameters")
                           for p in r.get(sex, "parameters", "covariates.sex", list))
        sex_factor = param_ref(r.get(sex, "female_factor", "covariates.sex", str),
                               "covariates.sex.female_factor", "dimensionless")

    variability, corr = _read_variability(r, data, params, references)
    bands = _read_bands(r, data, references)

    biases = tuple(r.get(data, "known_biases", "", list, required=False, default=[]))
    if not all(isinstance(b, str) for b in biases):
        raise r.fail("known_biases", "expected a list of strings")
    calibration_text, calibration_spec = _read_calibration(r, data, params)

    return Model(
        id=model_id, name=r.get(data, "name", "", str), drug=drug,
        analyte=r.get(data, "analyte", "", str), description=r.get(data, "description", "", str),
        path=path, sha256=sha, primary_reference=primary, references=references,
        validity_weight_kg=r.pair(validity, "weight_kg", "validity"),
        validity_age_years=r.pair(validity, "age_years", "validity"),
        validity_population=r.get(validity, "population", "validity", str),
        parameters=params, compartments=tuple(compartments), transfers=tuple(transfers),
        central=centrals[0], ke0=ke0, routes=routes, reference_weight_kg=ref_wt,
        scaling_schemes=schemes, scaling_descriptions=scheme_desc, default_scaling=default_scaling,
        sex_parameters=sex_params, sex_female_factor=sex_factor, variability=variability,
        correlation=corr, bands=bands, known_biases=biases, transit_chains=tuple(chains),
        sampling=sampling,
        dose_basis=_read_dose_basis(r, data, references),
        calibration=calibration_text,
        pd=_read_pd(r, data, references),
        calibration_spec=calibration_spec,
    )


def _read_sampling(r: _Reader, data: dict) -> str | None:
    site = r.get(data, "sampling", "", str, required=False)
    if site is not None and site not in SAMPLING_SITES:
        raise r.fail("sampling", f"unknown site {site!r}; allowed: {', '.join(SAMPLING_SITES)}")
    return site


def _read_calibration(r: _Reader, data: dict, params: dict
                      ) -> tuple[str | None, CalibrationSpec | None]:
    """``calibration``: a ``[calibration]`` table (summary, parameters, targets), or the older
    free-text string (read for one release; it says nothing machine-readable)."""
    raw = data.get("calibration")
    if raw is None or isinstance(raw, str):
        return r.get(data, "calibration", "", str, required=False), None
    table = r.get(data, "calibration", "", dict)
    r.check_keys(table, {"summary", "parameters", "targets"}, "calibration")
    summary = r.get(table, "summary", "calibration", str)
    names = r.get(table, "parameters", "calibration", list, required=False, default=[])
    for name in names:
        if not isinstance(name, str) or name not in params:
            raise r.fail("calibration.parameters", f"unknown parameter {name!r}")
    if len(set(names)) != len(names):
        raise r.fail("calibration.parameters", "a parameter is listed twice")
    targets = []
    for i, t in enumerate(r.get(table, "targets", "calibration", list, required=False,
                                default=[])):
        where = f"calibration.targets[{i}]"
        if not isinstance(t, dict):
            raise r.fail(where, "expected a table with arm and statistics")
        r.check_keys(t, {"arm", "statistics"}, where)
        arm = r.get(t, "arm", where, str)
        stats = r.get(t, "statistics", where, list)
        bad = [x for x in stats if x not in CALIBRATION_STATISTICS]
        if not stats or bad or len(set(stats)) != len(stats):
            raise r.fail(f"{where}.statistics", "expected distinct values of "
                         + ", ".join(CALIBRATION_STATISTICS))
        if arm in [x.arm for x in targets]:
            raise r.fail(f"{where}.arm", f"arm {arm!r} is listed twice")
        targets.append(CalibrationTarget(arm, tuple(stats)))
    if names and not targets:
        raise r.fail("calibration.targets", "fitted parameters need at least one target")
    return summary, CalibrationSpec(summary, tuple(names), tuple(targets))


def _read_pd(r: _Reader, data: dict, refs: dict) -> dict[str, PDEffect] | None:
    """``[pd.<effect>]`` sections: each parameter with value, description, source and tag."""
    raw = r.get(data, "pd", "", dict, required=False)
    if raw is None:
        return None
    out = {}
    for effect, table in raw.items():
        where = f"pd.{effect}"
        if effect not in PD_EFFECTS:
            raise r.fail(where, f"unknown effect {effect!r}; allowed: {', '.join(PD_EFFECTS)}")
        if not isinstance(table, dict):
            raise r.fail(where, "expected a table")
        required = PD_EFFECTS[effect]
        r.check_keys(table, set(required) | {"description", "calibration"}, where)
        params = {}
        for name in required:
            pw = f"{where}.{name}"
            p = r.get(table, name, where, dict)
            r.check_keys(p, {"value", "description", "source", "source_detail", "tag", "note",
                             "range"}, pw)
            value = r.get(p, "value", pw, float)
            if value < 0 or (name != "omega" and value == 0):
                raise r.fail(f"{pw}.value", f"must be {'>= 0' if name == 'omega' else '> 0'}")
            tag = r.get(p, "tag", pw, str)
            if tag not in TAGS:
                raise r.fail(f"{pw}.tag", f"unknown tag {tag!r}; allowed: {', '.join(TAGS)}")
            source = r.get(p, "source", pw, str)
            if source not in refs:
                raise r.fail(f"{pw}.source", f"{source!r} is not a key of [references]")
            params[name] = PDParameter(
                name, value, r.get(p, "description", pw, str), source,
                r.get(p, "source_detail", pw, str, required=False), tag,
                r.get(p, "note", pw, str, required=False), r.pair(p, "range", pw, required=False))
        out[effect] = PDEffect(effect, r.get(table, "description", where, str), params,
                               r.get(table, "calibration", where, str, required=False))
    return out


def _read_references(r: _Reader, data: dict) -> dict[str, Reference]:
    refs = {}
    for key, ref in r.get(data, "references", "", dict).items():
        where = f"references.{key}"
        if not isinstance(ref, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(ref, {"citation", "doi", "pmid", "note"}, where)
        doi = r.get(ref, "doi", where, str, required=False)
        pmid = r.get(ref, "pmid", where, str, required=False)
        refs[key] = Reference(key, r.get(ref, "citation", where, str), doi or None, pmid or None,
                              r.get(ref, "note", where, str, required=False))
    if not refs:
        raise r.fail("references", "at least one reference is required")
    return refs


def _read_parameters(r: _Reader, data: dict, refs: dict, ref_wt: float) -> dict[str, Parameter]:
    params = {}
    for name, p in r.get(data, "parameters", "", dict).items():
        where = f"parameters.{name}"
        if not isinstance(p, dict):
            raise r.fail(where, "expected a table with value, unit, description, source, tag")
        r.check_keys(p, {"value", "unit", "description", "source", "source_detail", "tag", "note",
                         "range"}, where)
        value = r.get(p, "value", where, float)
        unit = r.get(p, "unit", where, str)
        try:
            internal, dimension = to_internal(value, unit, ref_wt)
        except KeyError:
            raise r.fail(f"{where}.unit", f"unknown unit {unit!r}; known: {', '.join(KNOWN_UNITS)}") from None
        if value < 0:
            raise r.fail(f"{where}.value", f"must be >= 0, got {value}")
        tag = r.get(p, "tag", where, str)
        if tag not in TAGS:
            raise r.fail(f"{where}.tag", f"unknown tag {tag!r}; allowed: {', '.join(TAGS)}")
        source = r.get(p, "source", where, str)
        if source not in refs:
            raise r.fail(f"{where}.source", f"{source!r} is not a key of [references]")
        if dimension == "dimensionless" and name.startswith("f_") and value > 1:
            raise r.fail(f"{where}.value", f"a fraction must be within [0, 1], got {value}")
        params[name] = Parameter(
            name=name, value=internal, unit=INTERNAL_UNIT[dimension], dimension=dimension,
            published_value=value, published_unit=unit,
            description=r.get(p, "description", where, str), source=source,
            source_detail=r.get(p, "source_detail", where, str, required=False), tag=tag,
            note=r.get(p, "note", where, str, required=False),
            range=r.pair(p, "range", where, required=False),
        )
    return params


def _read_compartments(r: _Reader, data: dict, param_ref) -> list[Compartment]:
    comps = []
    raw = r.get(data, "compartments", "", list)
    for i, c in enumerate(raw):
        where = f"compartments[{i}]"
        if not isinstance(c, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(c, {"name", "kind", "volume", "description"}, where)
        name = r.get(c, "name", where, str)
        kind = r.get(c, "kind", where, str)
        if kind not in ("depot", "central", "peripheral", "liver"):
            raise r.fail(f"{where}.kind", f"unknown kind {kind!r}; allowed: depot, central, peripheral, liver")
        vol = r.get(c, "volume", where, str, required=kind in ("central", "liver"))
        if vol is not None:
            param_ref(vol, f"{where}.volume", "volume")
        if name in (SINK, "effect_site") or name in [x.name for x in comps]:
            raise r.fail(f"{where}.name", f"{name!r} is reserved or used twice")
        comps.append(Compartment(name, kind, vol))
    if not comps:
        raise r.fail("compartments", "at least one compartment is required")
    return comps


def _read_transfers(r: _Reader, data: dict, names: list[str], comps: list[Compartment],
                    param_ref) -> list[Transfer]:
    out = []
    volume_of = {c.name: c.volume for c in comps}
    for i, t in enumerate(r.get(data, "transfers", "", list)):
        where = f"transfers[{i}]"
        if not isinstance(t, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(t, {"from", "to", "rate", "clearance"}, where)
        src = r.get(t, "from", where, str)
        dst = r.get(t, "to", where, str)
        if src not in names:
            raise r.fail(f"{where}.from", f"unknown compartment {src!r}; known: {', '.join(names)}")
        if dst not in names and dst != SINK:
            raise r.fail(f"{where}.to", f"unknown compartment {dst!r}; known: {', '.join(names + [SINK])}")
        rate = r.get(t, "rate", where, str, required=False)
        clearance = r.get(t, "clearance", where, str, required=False)
        if (rate is None) == (clearance is None):
            raise r.fail(where, "give exactly one of 'rate' (1/min) or 'clearance' (L/min)")
        if rate is not None:
            param_ref(rate, f"{where}.rate", "rate")
        else:
            param_ref(clearance, f"{where}.clearance", "clearance")
            if volume_of[src] is None:
                raise r.fail(f"{where}.clearance", f"compartment {src!r} has no volume, so a clearance "
                             "cannot be turned into a rate; use 'rate'")
        out.append(Transfer(src, dst, rate, clearance))
    return out


def _check_all_drain(r: _Reader, names: list[str], transfers: list[Transfer]) -> None:
    """Every compartment must reach the sink, or drug would accumulate forever."""
    reaches = {SINK}
    changed = True
    while changed:
        changed = False
        for t in transfers:
            if t.target in reaches and t.source not in reaches:
                reaches.add(t.source)
                changed = True
    stuck = [n for n in names if n not in reaches]
    if stuck:
        raise r.fail("transfers", f"compartment(s) {', '.join(stuck)} never reach '{SINK}'")


def _read_transit_chains(r: _Reader, data: dict, names: list[str], param_ref
                         ) -> list[TransitChain]:
    chains = []
    for i, c in enumerate(r.get(data, "transit_chains", "", list, required=False, default=[])):
        where = f"transit_chains[{i}]"
        if not isinstance(c, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(c, {"name", "n", "mean_transit_time", "to", "description"}, where)
        name = r.get(c, "name", where, str)
        n = r.get(c, "n", where, int)
        if not 1 <= n <= 20:
            raise r.fail(f"{where}.n", f"must be an integer within [1, 20], got {n}")
        mtt = param_ref(r.get(c, "mean_transit_time", where, str), f"{where}.mean_transit_time",
                        "time")
        chain = TransitChain(name, n, mtt, r.get(c, "to", where, str),
                             r.get(c, "description", where, str, required=False) or "")
        taken = set(names) | {SINK, "effect_site"} | {x for ch in chains
                                                      for x in (ch.name, *ch.compartments)}
        if name in taken or set(chain.compartments) & taken:
            raise r.fail(f"{where}.name", f"{name!r} (or its compartments) is reserved or used twice")
        chains.append(chain)
    return chains


def _chain_transfers(r: _Reader, chains: list[TransitChain], names: list[str]) -> list[Transfer]:
    out = []
    for i, ch in enumerate(chains):
        if ch.target not in names:
            raise r.fail(f"transit_chains[{i}].to", f"unknown compartment {ch.target!r}")
        steps = ch.compartments + (ch.target,)
        for a, b in zip(steps[:-1], steps[1:], strict=True):
            out.append(Transfer(a, b, None, None, ch.mean_transit_time, ch.n))
    return out


def _read_dose_basis(r: _Reader, data: dict, refs: dict) -> DoseBasis | None:
    raw = r.get(data, "dose_basis", "", dict, required=False)
    if raw is None:
        return None
    where = "dose_basis"
    r.check_keys(raw, {"form", "molar_mass_base_g_per_mol", "molar_mass_hydrochloride_g_per_mol",
                       "source", "note"}, where)
    form = r.get(raw, "form", where, str)
    if form not in DOSE_FORMS:
        raise r.fail(f"{where}.form", f"unknown form {form!r}; allowed: {', '.join(DOSE_FORMS)}")
    masses = [r.get(raw, k, where, float) for k in ("molar_mass_base_g_per_mol",
                                                      "molar_mass_hydrochloride_g_per_mol")]
    if not (0 < masses[0] < masses[1] < 10 * masses[0]):
        raise r.fail(where, "molar masses must be positive, the hydrochloride's above the base's")
    source = r.get(raw, "source", where, str)
    if source not in refs:
        raise r.fail(f"{where}.source", f"{source!r} is not a key of [references]")
    return DoseBasis(form, masses[0], masses[1], source, r.get(raw, "note", where, str,
                                                             required=False))


def _read_hold(r: _Reader, raw: dict, where: str, target, transfers: list[Transfer], param_ref,
               bioavailability) -> Hold:
    r.check_keys(raw, {"compartment", "default", "swallow_to", "swallow_bioavailability"}, where)
    comp = target(r.get(raw, "compartment", where, str), f"{where}.compartment")
    if any(t.target == comp for t in transfers):
        raise r.fail(f"{where}.compartment", f"{comp!r} receives a transfer; a held compartment "
                     "may only lose drug (its content at the end of the hold must be exact)")
    outs = [t for t in transfers if t.source == comp]
    if not outs or any(t.clearance is not None for t in outs):
        raise r.fail(f"{where}.compartment", f"{comp!r} needs first-order outflows given as "
                     "'rate' (or a transit chain), not 'clearance'")
    default = param_ref(r.get(raw, "default", where, str), f"{where}.default", "time")
    return Hold(comp, default, target(r.get(raw, "swallow_to", where, str), f"{where}.swallow_to"),
                bioavailability(raw, "swallow_bioavailability", where))


def _read_routes(r: _Reader, data: dict, names: list[str], entry: dict[str, str],
                 transfers: list[Transfer], param_ref) -> dict[str, Route]:
    def target(name: str, where: str) -> str:
        name = entry.get(name, name)
        if name not in names:
            raise r.fail(where, f"unknown compartment or transit chain {name!r}")
        return name

    def bioavailability(table: dict, key: str, where: str) -> float | str:
        bio = r.get(table, key, where, (float, str), required=False, default=1.0)
        if isinstance(bio, str):
            param_ref(bio, f"{where}.{key}", "dimensionless")
        elif not 0 <= bio <= 1:
            raise r.fail(f"{where}.{key}", f"must be within [0, 1], got {bio}")
        return bio

    routes = {}
    for rname, rdef in r.get(data, "routes", "", dict).items():
        where = f"routes.{rname}"
        if not isinstance(rdef, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(rdef, {"description", "allows_duration", "pathways", "hold", "sprays",
                            "label", "product_step_mg"}, where)
        pathways = []
        n_rest = 0
        for i, p in enumerate(r.get(rdef, "pathways", where, list)):
            pw = f"{where}.pathways[{i}]"
            if not isinstance(p, dict):
                raise r.fail(pw, "expected a table")
            r.check_keys(p, {"name", "target", "fraction", "bioavailability", "lag", "input",
                             "duration", "description"}, pw)
            tgt = target(r.get(p, "target", pw, str), f"{pw}.target")
            fraction = r.get(p, "fraction", pw, (float, str))
            if fraction == "rest":
                fraction = None
                n_rest += 1
            elif isinstance(fraction, str):
                param_ref(fraction, f"{pw}.fraction", "dimensionless")
            elif not 0 <= fraction <= 1:
                raise r.fail(f"{pw}.fraction", f"must be within [0, 1], got {fraction}")
            bio = bioavailability(p, "bioavailability", pw)
            lag = r.get(p, "lag", pw, (float, str), required=False, default=0.0)
            if isinstance(lag, str):
                param_ref(lag, f"{pw}.lag", "time")
            elif lag < 0:
                raise r.fail(f"{pw}.lag", f"must be >= 0, got {lag}")
            kind = r.get(p, "input", pw, str, required=False, default="bolus")
            if kind not in PATHWAY_INPUTS:
                raise r.fail(f"{pw}.input", f"unknown input {kind!r}; allowed: {', '.join(PATHWAY_INPUTS)}")
            duration = r.get(p, "duration", pw, (float, str), required=kind == "zero_order")
            if isinstance(duration, str):
                param_ref(duration, f"{pw}.duration", "time")
            elif duration is not None and duration <= 0:
                raise r.fail(f"{pw}.duration", f"must be > 0, got {duration}")
            pathways.append(Pathway(r.get(p, "name", pw, str), tgt, fraction, bio, lag, kind, duration))
        if not pathways:
            raise r.fail(f"{where}.pathways", "at least one pathway is required")
        if n_rest > 1:
            raise r.fail(f"{where}.pathways", "at most one pathway may take fraction = \"rest\"")
        hold = None
        if "hold" in rdef:
            hold = _read_hold(r, r.get(rdef, "hold", where, dict), f"{where}.hold", target,
                              transfers, param_ref, bioavailability)
            if not any(p.target == hold.compartment and p.input == "bolus" and p.lag == 0.0
                       for p in pathways):
                raise r.fail(f"{where}.hold", f"no bolus pathway without lag enters {hold.compartment!r}")
        sprays = None
        if "sprays" in rdef:
            sw = f"{where}.sprays"
            raw = r.get(rdef, "sprays", where, dict)
            r.check_keys(raw, {"interval", "pathway", "later_factor"}, sw)
            which = r.get(raw, "pathway", sw, str)
            if which not in [p.name for p in pathways] or next(
                    p for p in pathways if p.name == which).fraction is None:
                raise r.fail(f"{sw}.pathway", f"{which!r} is not a pathway of {rname!r} with "
                             "its own fraction")
            sprays = Sprays(param_ref(r.get(raw, "interval", sw, str), f"{sw}.interval", "time"),
                            which, bioavailability(raw, "later_factor", sw))
        step = r.get(rdef, "product_step_mg", where, float, required=False)
        if step is not None and not 0 < step <= 1000:
            raise r.fail(f"{where}.product_step_mg", f"must be within (0, 1000], got {step}")
        routes[rname] = Route(rname, r.get(rdef, "description", where, str),
                              r.get(rdef, "allows_duration", where, bool, required=False, default=False),
                              tuple(pathways), hold, sprays,
                              r.get(rdef, "label", where, str, required=False), step)
    if not routes:
        raise r.fail("routes", "at least one route is required")
    return routes


def _read_variability(r: _Reader, data: dict, params: dict, refs: dict):
    var = r.get(data, "variability", "", dict, required=False, default={})
    r.check_keys(var, {"parameters", "correlations"}, "variability")
    terms = []
    for i, v in enumerate(r.get(var, "parameters", "variability", list, required=False, default=[])):
        where = f"variability.parameters[{i}]"
        if not isinstance(v, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(v, {"parameter", "distribution", "cv_percent", "sd", "source", "tag", "note"}, where)
        pname = r.get(v, "parameter", where, str)
        if pname not in params:
            raise r.fail(f"{where}.parameter", f"unknown parameter {pname!r}")
        if pname in [t.parameter for t in terms]:
            raise r.fail(f"{where}.parameter", f"{pname!r} has variability twice")
        dist = r.get(v, "distribution", where, str)
        cv = r.get(v, "cv_percent", where, float, required=False)
        sd = r.get(v, "sd", where, float, required=False)
        if dist == "lognormal":
            if (cv is None) == (sd is None):
                raise r.fail(where, "give exactly one of cv_percent or sd (log scale)")
            if cv is not None:
                if not 0 <= cv <= 500:
                    raise r.fail(f"{where}.cv_percent", f"must be within [0, 500], got {cv}")
                # CV of a log-normal: CV^2 = exp(omega^2) - 1
                sd = math.sqrt(math.log1p((cv / 100.0) ** 2))
        elif dist == "logitnormal":
            if sd is None or cv is not None:
                raise r.fail(where, "logitnormal variability takes 'sd' on the logit scale")
            pv = params[pname]
            if not 0 < pv.value < 1:
                raise r.fail(f"{where}.parameter", f"logitnormal needs a value in (0, 1), got {pv.value}")
        else:
            raise r.fail(f"{where}.distribution", f"unknown distribution {dist!r}; allowed: lognormal, logitnormal")
        if not 0 <= sd <= 5:
            raise r.fail(f"{where}.sd", f"must be within [0, 5], got {sd}")
        source = r.get(v, "source", where, str)
        if source not in refs:
            raise r.fail(f"{where}.source", f"{source!r} is not a key of [references]")
        tag = r.get(v, "tag", where, str)
        if tag not in TAGS:
            raise r.fail(f"{where}.tag", f"unknown tag {tag!r}; allowed: {', '.join(TAGS)}")
        terms.append(VariabilityTerm(pname, dist, sd, cv, source, tag, r.get(v, "note", where, str, required=False)))
    n = len(terms)
    corr = np.eye(n)
    index = {t.parameter: i for i, t in enumerate(terms)}
    for i, c in enumerate(r.get(var, "correlations", "variability", list, required=False, default=[])):
        where = f"variability.correlations[{i}]"
        if not isinstance(c, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(c, {"a", "b", "r", "source", "note"}, where)
        a, b = r.get(c, "a", where, str), r.get(c, "b", where, str)
        rho = r.get(c, "r", where, float)
        for key, p in (("a", a), ("b", b)):
            if p not in index:
                raise r.fail(f"{where}.{key}", f"{p!r} has no variability term")
        if a == b or not -1 < rho < 1:
            raise r.fail(where, "needs two different parameters and -1 < r < 1")
        corr[index[a], index[b]] = corr[index[b], index[a]] = rho
    if n and np.linalg.eigvalsh(corr).min() <= 1e-10:
        raise r.fail("variability.correlations", "the correlation matrix is not positive definite")
    corr.setflags(write=False)
    return tuple(terms), corr


def _read_bands(r: _Reader, data: dict, refs: dict) -> tuple[Band, ...]:
    bands = []
    for i, b in enumerate(r.get(data, "bands", "", list)):
        where = f"bands[{i}]"
        if not isinstance(b, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(b, {"role", "label", "lower_ng_per_ml", "lower_range_ng_per_ml", "source", "note"}, where)
        role = r.get(b, "role", where, str)
        if role != BAND_ROLES[i] if i < len(BAND_ROLES) else True:
            raise r.fail(f"{where}.role", f"bands must be, in order: {', '.join(BAND_ROLES)}")
        lower = r.get(b, "lower_ng_per_ml", where, float)
        if bands and lower <= bands[-1].lower_ng_per_ml:
            raise r.fail(f"{where}.lower_ng_per_ml", "band edges must increase")
        if i == 0 and lower != 0:
            raise r.fail(f"{where}.lower_ng_per_ml", "the first band starts at 0")
        source = r.get(b, "source", where, str)
        if source not in refs:
            raise r.fail(f"{where}.source", f"{source!r} is not a key of [references]")
        bands.append(Band(role, r.get(b, "label", where, str), lower,
                          r.pair(b, "lower_range_ng_per_ml", where, required=False), source,
                          r.get(b, "note", where, str, required=False)))
    if len(bands) != len(BAND_ROLES):
        raise r.fail("bands", f"expected {len(BAND_ROLES)} bands: {', '.join(BAND_ROLES)}")
    return tuple(bands)
