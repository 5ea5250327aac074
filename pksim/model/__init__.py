"""Model files (TOML, pure data) → validated, immutable :class:`Model` objects.

A model file declares parameters (value, unit, description, source, tag), compartments,
first-order transfers, the effect site, the routes (as absorption pathways), weight
scaling schemes, covariates, between-subject variability and concentration bands.
Nothing in a file is evaluated: parameters are referred to by name only, and every
reference is checked here so that an error names the file, the field and the problem.
Units are converted once, here, to mg, L, min (see :mod:`pksim.units`).

Modules: :mod:`~pksim.model.schema` (the dataclasses and allowed values),
:mod:`~pksim.model.reader` (typed field access), :mod:`~pksim.model.structure`,
:mod:`~pksim.model.routes` and :mod:`~pksim.model.parameters` (one reader per section),
:mod:`~pksim.model.build` (a parsed file → :class:`Model`) and :mod:`~pksim.model.library`
(files on disk, the cache, the model and route lists). The public names are re-exported here.
"""

from pksim.model.library import (
    DEFAULT_MODEL,
    available_models,
    load_model,
    models_dir,
    route_options,
)
from pksim.model.schema import (
    BAND_ROLES,
    CALIBRATION_STATISTICS,
    DOSE_FORMS,
    DRUGS,
    PATHWAY_INPUTS,
    PD_EFFECTS,
    SAMPLING_SITES,
    SCHEMA_VERSION,
    SINK,
    TAGS,
    Band,
    CalibrationSpec,
    CalibrationTarget,
    Compartment,
    DoseBasis,
    Hold,
    Model,
    Parameter,
    Pathway,
    PDEffect,
    PDParameter,
    Reference,
    Route,
    Sprays,
    Transfer,
    TransitChain,
    VariabilityTerm,
)

__all__ = [
    "BAND_ROLES",
    "CALIBRATION_STATISTICS",
    "DEFAULT_MODEL",
    "DOSE_FORMS",
    "DRUGS",
    "PATHWAY_INPUTS",
    "PD_EFFECTS",
    "SAMPLING_SITES",
    "SCHEMA_VERSION",
    "SINK",
    "TAGS",
    "Band",
    "CalibrationSpec",
    "CalibrationTarget",
    "Compartment",
    "DoseBasis",
    "Hold",
    "Model",
    "Parameter",
    "PDEffect",
    "PDParameter",
    "Pathway",
    "Reference",
    "Route",
    "Sprays",
    "Transfer",
    "TransitChain",
    "VariabilityTerm",
    "available_models",
    "load_model",
    "models_dir",
    "route_options",
]
