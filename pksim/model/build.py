"""A parsed model file (a dict from ``tomllib``) → a validated :class:`~pksim.model.Model`.

The top-level fields, weight scaling and covariates are read here; every other section has its
reader in a sibling module. Parameters are referred to by name only: ``param_ref`` checks that a
name exists and has the expected dimension, so an error names the field that refers to it.
"""

from __future__ import annotations

import math
from typing import Any

from pksim.model.parameters import (
    read_bands,
    read_calibration,
    read_dose_basis,
    read_parameters,
    read_pd,
    read_references,
    read_sampling,
    read_variability,
)
from pksim.model.reader import TableReader
from pksim.model.routes import read_routes
from pksim.model.schema import DRUGS, SCHEMA_VERSION, Compartment, Model
from pksim.model.structure import (
    chain_transfers,
    check_all_drain,
    read_compartments,
    read_transfers,
    read_transit_chains,
)
from pksim.units import INTERNAL_UNIT

_TOP_KEYS = {
    "schema_version",
    "id",
    "name",
    "drug",
    "analyte",
    "description",
    "primary_reference",
    "references",
    "validity",
    "parameters",
    "compartments",
    "transfers",
    "effect_site",
    "routes",
    "weight_scaling",
    "covariates",
    "variability",
    "bands",
    "known_biases",
    "calibration",
    "pd",
    "transit_chains",
    "sampling",
    "dose_basis",
}


def build_model(data: dict, path: str, sha: str) -> Model:
    r = TableReader(path)
    r.check_keys(data, _TOP_KEYS, "")
    version = r.get(data, "schema_version", "", int)
    if version != SCHEMA_VERSION:
        raise r.fail("schema_version", f"expected {SCHEMA_VERSION}, got {version}")
    model_id = r.get(data, "id", "", str)
    drug = r.one_of(data, "drug", "", DRUGS, "drug")

    references = read_references(r, data)
    sampling = read_sampling(r, data)
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

    params = read_parameters(r, data, references, ref_wt)

    def param_ref(value: Any, where: str, dimension: str | None = None) -> Any:
        if isinstance(value, str):
            if value not in params:
                raise r.fail(where, f"refers to unknown parameter {value!r}")
            if dimension and params[value].dimension != dimension:
                raise r.fail(
                    where,
                    f"parameter {value!r} has dimension {params[value].dimension}, "
                    f"expected {dimension} ({INTERNAL_UNIT[dimension]})",
                )
        return value

    compartments = read_compartments(r, data, param_ref)
    chains = read_transit_chains(r, data, [c.name for c in compartments], param_ref)
    compartments += [Compartment(n, "depot", None) for ch in chains for n in ch.compartments]
    names = [c.name for c in compartments]
    centrals = [c.name for c in compartments if c.kind == "central"]
    if len(centrals) != 1:
        raise r.fail(
            "compartments",
            f"exactly one compartment must have kind 'central', found {len(centrals)}",
        )
    transfers = read_transfers(r, data, names, compartments, param_ref)
    transfers += chain_transfers(r, chains, names)
    check_all_drain(r, names, transfers)
    entry = {ch.name: ch.compartments[0] for ch in chains}

    effect = r.get(data, "effect_site", "", dict)
    r.check_keys(effect, {"ke0"}, "effect_site")
    ke0 = param_ref(r.get(effect, "ke0", "effect_site", str), "effect_site.ke0", "rate")

    routes = read_routes(r, data, names, entry, transfers, param_ref)

    schemes, scheme_desc = {}, {}
    raw_schemes = r.get(scaling, "schemes", "weight_scaling", dict)
    for sname, sdef, where in r.tables(
        raw_schemes, "weight_scaling.schemes", {"description", "exponents"}
    ):
        scheme_desc[sname] = r.get(sdef, "description", where, str)
        exps = r.get(sdef, "exponents", where, dict)
        for p, e in exps.items():
            param_ref(p, f"{where}.exponents.{p}")
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e):
                raise r.fail(f"{where}.exponents.{p}", "expected a finite number")
        schemes[sname] = {p: float(e) for p, e in exps.items()}
    default_scaling = r.get(scaling, "default", "weight_scaling", str)
    if default_scaling not in schemes:
        raise r.fail(
            "weight_scaling.default",
            f"{default_scaling!r} is not one of the schemes ({', '.join(schemes)})",
        )

    sex_params: tuple[str, ...] = ()
    sex_factor = None
    covariates = r.get(data, "covariates", "", dict, required=False, default={})
    r.check_keys(covariates, {"sex"}, "covariates")
    if "sex" in covariates:
        sex = r.get(covariates, "sex", "covariates", dict)
        r.check_keys(sex, {"parameters", "female_factor"}, "covariates.sex")
        sex_params = tuple(
            param_ref(p, "covariates.sex.parameters")
            for p in r.get(sex, "parameters", "covariates.sex", list)
        )
        sex_factor = param_ref(
            r.get(sex, "female_factor", "covariates.sex", str),
            "covariates.sex.female_factor",
            "dimensionless",
        )

    variability, corr = read_variability(r, data, params, references)
    bands = read_bands(r, data, references)

    biases = tuple(r.get(data, "known_biases", "", list, required=False, default=[]))
    if not all(isinstance(b, str) for b in biases):
        raise r.fail("known_biases", "expected a list of strings")
    calibration_text, calibration_spec = read_calibration(r, data, params)

    return Model(
        id=model_id,
        name=r.get(data, "name", "", str),
        drug=drug,
        analyte=r.get(data, "analyte", "", str),
        description=r.get(data, "description", "", str),
        path=path,
        sha256=sha,
        primary_reference=primary,
        references=references,
        validity_weight_kg=r.pair(validity, "weight_kg", "validity"),
        validity_age_years=r.pair(validity, "age_years", "validity"),
        validity_population=r.get(validity, "population", "validity", str),
        parameters=params,
        compartments=tuple(compartments),
        transfers=tuple(transfers),
        central=centrals[0],
        ke0=ke0,
        routes=routes,
        reference_weight_kg=ref_wt,
        scaling_schemes=schemes,
        scaling_descriptions=scheme_desc,
        default_scaling=default_scaling,
        sex_parameters=sex_params,
        sex_female_factor=sex_factor,
        variability=variability,
        correlation=corr,
        bands=bands,
        known_biases=biases,
        transit_chains=tuple(chains),
        sampling=sampling,
        dose_basis=read_dose_basis(r, data, references),
        calibration=calibration_text,
        pd=read_pd(r, data, references),
        calibration_spec=calibration_spec,
    )
