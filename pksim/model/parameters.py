"""The numbers of a model file and where they come from.

References, parameters (converted once to internal units), between-subject variability,
concentration bands, PD effects, the dose basis (salt form) and the calibration record. Every
value names its source, a key of ``[references]``, so a number is never without its citation.
"""

from __future__ import annotations

import math

import numpy as np

from pksim.model.reader import TableReader
from pksim.model.schema import (
    BAND_ROLES,
    CALIBRATION_STATISTICS,
    DISTRIBUTIONS,
    DOSE_FORMS,
    PD_EFFECTS,
    SAMPLING_SITES,
    TAGS,
    Band,
    CalibrationSpec,
    CalibrationTarget,
    DoseBasis,
    Parameter,
    PDEffect,
    PDParameter,
    Reference,
    VariabilityTerm,
)
from pksim.units import INTERNAL_UNIT, KNOWN_UNITS, to_internal


def read_sampling(r: TableReader, data: dict) -> str | None:
    return r.one_of(data, "sampling", "", SAMPLING_SITES, "site", required=False)


def read_calibration(
    r: TableReader, data: dict, params: dict
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
    for _, t, where in r.tables(
        r.get(table, "targets", "calibration", list, required=False, default=[]),
        "calibration.targets",
        {"arm", "statistics"},
        "expected a table with arm and statistics",
    ):
        arm = r.get(t, "arm", where, str)
        stats = r.get(t, "statistics", where, list)
        bad = [x for x in stats if x not in CALIBRATION_STATISTICS]
        if not stats or bad or len(set(stats)) != len(stats):
            raise r.fail(
                f"{where}.statistics",
                "expected distinct values of " + ", ".join(CALIBRATION_STATISTICS),
            )
        if arm in [x.arm for x in targets]:
            raise r.fail(f"{where}.arm", f"arm {arm!r} is listed twice")
        targets.append(CalibrationTarget(arm, tuple(stats)))
    if names and not targets:
        raise r.fail("calibration.targets", "fitted parameters need at least one target")
    return summary, CalibrationSpec(summary, tuple(names), tuple(targets))


def read_pd(r: TableReader, data: dict, refs: dict) -> dict[str, PDEffect] | None:
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
            r.check_keys(
                p, {"value", "description", "source", "source_detail", "tag", "note", "range"}, pw
            )
            value = r.get(p, "value", pw, float)
            if value < 0 or (name != "omega" and value == 0):
                raise r.fail(f"{pw}.value", f"must be {'>= 0' if name == 'omega' else '> 0'}")
            tag = r.one_of(p, "tag", pw, TAGS, "tag")
            source = r.source(p, pw, refs)
            params[name] = PDParameter(
                name,
                value,
                r.get(p, "description", pw, str),
                source,
                r.get(p, "source_detail", pw, str, required=False),
                tag,
                r.get(p, "note", pw, str, required=False),
                r.pair(p, "range", pw, required=False),
            )
        out[effect] = PDEffect(
            effect,
            r.get(table, "description", where, str),
            params,
            r.get(table, "calibration", where, str, required=False),
        )
    return out


def read_references(r: TableReader, data: dict) -> dict[str, Reference]:
    refs = {}
    for key, ref, where in r.tables(
        r.get(data, "references", "", dict), "references", {"citation", "doi", "pmid", "note"}
    ):
        doi = r.get(ref, "doi", where, str, required=False)
        pmid = r.get(ref, "pmid", where, str, required=False)
        refs[key] = Reference(
            key,
            r.get(ref, "citation", where, str),
            doi or None,
            pmid or None,
            r.get(ref, "note", where, str, required=False),
        )
    if not refs:
        raise r.fail("references", "at least one reference is required")
    return refs


def read_parameters(r: TableReader, data: dict, refs: dict, ref_wt: float) -> dict[str, Parameter]:
    params = {}
    for name, p, where in r.tables(
        r.get(data, "parameters", "", dict),
        "parameters",
        {"value", "unit", "description", "source", "source_detail", "tag", "note", "range"},
        "expected a table with value, unit, description, source, tag",
    ):
        value = r.get(p, "value", where, float)
        unit = r.get(p, "unit", where, str)
        try:
            internal, dimension = to_internal(value, unit, ref_wt)
        except KeyError:
            raise r.fail(
                f"{where}.unit", f"unknown unit {unit!r}; known: {', '.join(KNOWN_UNITS)}"
            ) from None
        if value < 0:
            raise r.fail(f"{where}.value", f"must be >= 0, got {value}")
        tag = r.one_of(p, "tag", where, TAGS, "tag")
        source = r.source(p, where, refs)
        if dimension == "dimensionless" and name.startswith("f_") and value > 1:
            raise r.fail(f"{where}.value", f"a fraction must be within [0, 1], got {value}")
        params[name] = Parameter(
            name=name,
            value=internal,
            unit=INTERNAL_UNIT[dimension],
            dimension=dimension,
            published_value=value,
            published_unit=unit,
            description=r.get(p, "description", where, str),
            source=source,
            source_detail=r.get(p, "source_detail", where, str, required=False),
            tag=tag,
            note=r.get(p, "note", where, str, required=False),
            range=r.pair(p, "range", where, required=False),
        )
    return params


def read_dose_basis(r: TableReader, data: dict, refs: dict) -> DoseBasis | None:
    raw = r.get(data, "dose_basis", "", dict, required=False)
    if raw is None:
        return None
    where = "dose_basis"
    r.check_keys(
        raw,
        {
            "form",
            "molar_mass_base_g_per_mol",
            "molar_mass_hydrochloride_g_per_mol",
            "source",
            "note",
        },
        where,
    )
    form = r.one_of(raw, "form", where, DOSE_FORMS, "form")
    masses = [
        r.get(raw, k, where, float)
        for k in ("molar_mass_base_g_per_mol", "molar_mass_hydrochloride_g_per_mol")
    ]
    if not (0 < masses[0] < masses[1] < 10 * masses[0]):
        raise r.fail(where, "molar masses must be positive, the hydrochloride's above the base's")
    source = r.source(raw, where, refs)
    return DoseBasis(
        form, masses[0], masses[1], source, r.get(raw, "note", where, str, required=False)
    )


def read_variability(r: TableReader, data: dict, params: dict, refs: dict):
    var = r.get(data, "variability", "", dict, required=False, default={})
    r.check_keys(var, {"parameters", "correlations"}, "variability")
    terms = []
    for i, v in enumerate(
        r.get(var, "parameters", "variability", list, required=False, default=[])
    ):
        where = f"variability.parameters[{i}]"
        if not isinstance(v, dict):
            raise r.fail(where, "expected a table")
        r.check_keys(
            v, {"parameter", "distribution", "cv_percent", "sd", "source", "tag", "note"}, where
        )
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
                raise r.fail(
                    f"{where}.parameter", f"logitnormal needs a value in (0, 1), got {pv.value}"
                )
        else:
            raise r.fail(
                f"{where}.distribution",
                f"unknown distribution {dist!r}; allowed: {', '.join(DISTRIBUTIONS)}",
            )
        if not 0 <= sd <= 5:
            raise r.fail(f"{where}.sd", f"must be within [0, 5], got {sd}")
        source = r.source(v, where, refs)
        tag = r.one_of(v, "tag", where, TAGS, "tag")
        terms.append(
            VariabilityTerm(
                pname, dist, sd, cv, source, tag, r.get(v, "note", where, str, required=False)
            )
        )
    n = len(terms)
    corr = np.eye(n)
    index = {t.parameter: i for i, t in enumerate(terms)}
    for i, c in enumerate(
        r.get(var, "correlations", "variability", list, required=False, default=[])
    ):
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


def read_bands(r: TableReader, data: dict, refs: dict) -> tuple[Band, ...]:
    bands = []
    for i, b, where in r.tables(
        r.get(data, "bands", "", list),
        "bands",
        {"role", "label", "lower_ng_per_ml", "lower_range_ng_per_ml", "source", "note"},
    ):
        role = r.get(b, "role", where, str)
        if role != BAND_ROLES[i] if i < len(BAND_ROLES) else True:
            raise r.fail(f"{where}.role", f"bands must be, in order: {', '.join(BAND_ROLES)}")
        lower = r.get(b, "lower_ng_per_ml", where, float)
        if bands and lower <= bands[-1].lower_ng_per_ml:
            raise r.fail(f"{where}.lower_ng_per_ml", "band edges must increase")
        if i == 0 and lower != 0:
            raise r.fail(f"{where}.lower_ng_per_ml", "the first band starts at 0")
        source = r.source(b, where, refs)
        bands.append(
            Band(
                role,
                r.get(b, "label", where, str),
                lower,
                r.pair(b, "lower_range_ng_per_ml", where, required=False),
                source,
                r.get(b, "note", where, str, required=False),
            )
        )
    if len(bands) != len(BAND_ROLES):
        raise r.fail("bands", f"expected {len(BAND_ROLES)} bands: {', '.join(BAND_ROLES)}")
    return tuple(bands)
