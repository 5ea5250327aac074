"""Model files: loader validation on malformed files, and the shipped library's published numbers.

Malformed files are small one-compartment models written to ``tmp_path``; every rejection must be
a :class:`~pksim.errors.ModelFileError` that names the file and the offending field, because a
researcher editing a TOML file needs to know where to look. The fixture model
(:func:`model_fixtures.one_compartment_toml`) is also the model of the closed-form tests in
``test_simulate.py`` and ``test_regimen.py``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import one_compartment_toml, write_model

from pksim.errors import InputError, ModelFileError
from pksim.model import TAGS, Model, available_models, load_model, models_dir, route_options


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, f"fixture text does not contain {old!r}"
    return text.replace(old, new, 1)


# ----------------------------------------------------------------------------- valid fixture


def test_fixture_model_loads_with_internal_units(tmp_path):
    m = load_model(write_model(tmp_path, one_compartment_toml()))
    assert isinstance(m, Model)
    assert m.state_names == ("gut", "central", "effect_site", "elimination")
    assert m.parameters["CL"].value == 2.0 and m.parameters["CL"].unit == "L/min"
    assert m.correlation[0, 1] == 0.5


def test_units_converted_once_on_load(tmp_path):
    text = _edit(
        one_compartment_toml(), 'value = 2.0\nunit = "L/min"', 'value = 120.0\nunit = "L/h"'
    )
    text = _edit(text, 'value = 0.5\nunit = "1/min"', 'value = 30.0\nunit = "1/h"')
    text = _edit(text, 'value = 10.0\nunit = "L"', 'value = 0.1\nunit = "L/kg"')
    m = load_model(write_model(tmp_path, text))
    assert m.parameters["CL"].value == pytest.approx(2.0, rel=1e-15)
    assert m.parameters["ka"].value == pytest.approx(0.5, rel=1e-15)
    # per-kg values are stored for the reference person (70 kg)
    assert m.parameters["V"].value == pytest.approx(7.0, rel=1e-15)


# ----------------------------------------------------------------------------- malformed files

MALFORMED = {
    # case: (old text, new text, field named in the error, words in the problem)
    "not_toml": (
        'value = 10.0\nunit = "L"',
        'value = = 10.0\nunit = "L"',
        "file",
        "not valid TOML",
    ),
    "missing_field": (
        'description = "Central volume"\nsource = "fixture"\ntag = "assumed"',
        'description = "Central volume"\nsource = "fixture"',
        "parameters.V.tag",
        "missing",
    ),
    "unknown_parameter_reference": (
        'clearance = "CL"',
        'clearance = "CL_typo"',
        "transfers[1].clearance",
        "unknown parameter 'CL_typo'",
    ),
    "unknown_unit": (
        'value = 10.0\nunit = "L"',
        'value = 10.0\nunit = "furlong"',
        "parameters.V.unit",
        "unknown unit 'furlong'",
    ),
    "bad_tag": (
        'unit = "L/min"\ndescription = "Clearance"\nsource = "fixture"\ntag = "assumed"',
        'unit = "L/min"\ndescription = "Clearance"\nsource = "fixture"\ntag = "guessed"',
        "parameters.CL.tag",
        "unknown tag 'guessed'",
    ),
    "negative_value": (
        'value = 2.0\nunit = "L/min"',
        'value = -2.0\nunit = "L/min"',
        "parameters.CL.value",
        ">= 0",
    ),
    "never_drains": (
        '[[transfers]]\nfrom = "central"\nto = "elimination"\nclearance = "CL"',
        '[[transfers]]\nfrom = "central"\nto = "gut"\nclearance = "CL"',
        "transfers",
        "never reach",
    ),
    "correlation_not_positive_definite": (
        'r = 0.5\nsource = "fixture"',
        'r = 0.9\nsource = "fixture"\n\n[[variability.correlations]]\na = "CL"\nb = "ka"\nr = 0.9\n'
        'source = "fixture"\n\n[[variability.correlations]]\na = "V"\nb = "ka"\nr = -0.9\n'
        'source = "fixture"',
        "variability.correlations",
        "not positive definite",
    ),
    # a few more ways to get a file wrong
    "expression_is_not_evaluated": (
        'value = 10.0\nunit = "L"',
        'value = "5 * 2"\nunit = "L"',
        "parameters.V.value",
        "expected a number",
    ),
    "fraction_above_one": (
        "fraction = 1.0\nbioavailability = 1.0",
        "fraction = 1.5\nbioavailability = 1.0",
        "routes.iv.pathways[0].fraction",
        "within [0, 1]",
    ),
    "wrong_dimension": ('rate = "ka"', 'rate = "V"', "transfers[0].rate", "dimension volume"),
    "unknown_compartment": (
        'to = "central"\nrate = "ka"',
        'to = "centre"\nrate = "ka"',
        "transfers[0].to",
        "unknown compartment 'centre'",
    ),
    "unknown_top_level_field": (
        'drug = "racemic"',
        'drug = "racemic"\ncode = "import os"',
        "top level",
        "unknown field(s) code",
    ),
    "band_order": (
        "lower_ng_per_ml = 640",
        "lower_ng_per_ml = 100",
        "bands[3].lower_ng_per_ml",
        "must increase",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_names_file_and_field(tmp_path, case):
    old, new, field, problem = MALFORMED[case]
    path = write_model(tmp_path, _edit(one_compartment_toml(), old, new), f"{case}.toml")
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    err = info.value
    assert err.path == str(path)
    assert err.field == field
    assert problem in err.problem
    message = str(err)
    assert str(path) in message and field in message and "\n" not in message


def test_missing_model_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nope.toml")
    with pytest.raises(InputError, match="unknown model 'no_such_model'"):
        load_model("no_such_model")


def test_reload_sees_an_edited_file(tmp_path):
    # Whatever caching the loader does, an edited file must give the edited model.
    path = write_model(tmp_path, one_compartment_toml(cl_l_per_min=2.0))
    first = load_model(path)
    assert first.parameters["CL"].value == 2.0
    path.write_text(one_compartment_toml(cl_l_per_min=30.0), encoding="utf-8")
    assert load_model(path).parameters["CL"].value == 30.0
    # rewritten within one file-system timestamp tick: same size, same mtime, other bytes
    st = path.stat()
    path.write_text(one_compartment_toml(cl_l_per_min=40.0), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert load_model(path).parameters["CL"].value == 40.0
    # an old, unchanged file is served from the cache; a replaced file is read again
    old_ns = st.st_mtime_ns - 3600 * 10**9
    os.utime(path, ns=(old_ns, old_ns))
    cached = load_model(path)
    assert load_model(path) is cached and cached.parameters["CL"].value == 40.0
    replacement = write_model(tmp_path, one_compartment_toml(cl_l_per_min=5.0), "other.toml")
    os.replace(replacement, path)
    assert load_model(path).parameters["CL"].value == 5.0
    assert load_model(path).sha256 != first.sha256


# ----------------------------------------------------------------------------- shipped library


@pytest.mark.parametrize("model_id", available_models())
def test_shipped_model_is_complete(model_id):
    m = load_model(model_id)
    assert Path(m.path).parent == models_dir()
    assert m.id == model_id, "id must match the file name (the CLI looks models up by file name)"
    for p in m.parameters.values():
        assert p.tag in TAGS and p.source in m.references and p.description
        assert math.isfinite(p.value) and p.value >= 0
    # every route is reachable from the dose SPEC syntax
    assert set(m.routes) <= set(route_options())
    assert "iv" in m.routes
    lo, hi = m.window_ng_per_ml()
    assert 0 < lo < hi < math.inf
    assert np.all(np.linalg.eigvalsh(m.correlation) > 0)


def test_default_model_is_first():
    assert available_models()[0] == "ketamine"


def test_domino1984_reproduces_domino_micro_constants():
    # Domino EF, Domino SE, Smith RE, et al. Ketamine kinetics in unmedicated and
    # diazepam-premedicated subjects. Clin Pharmacol Ther 1984;36(5):645-653 (PMID 7198883),
    # as encoded in opentiva ketamine.py class Domino: V1 = 0.063 L/kg; k10 0.4381, k12 0.5921,
    # k13 0.5900, k21 0.2470, k31 0.0146 /min. The model file stores clearances and volumes;
    # converting back must give the published constants.
    published = {"k10": 0.4381, "k12": 0.5921, "k13": 0.5900, "k21": 0.2470, "k31": 0.0146}
    v1_l_per_kg = 0.063
    m = load_model("domino1984")
    wt = m.reference_weight_kg
    p = {name: par.value for name, par in m.parameters.items()}
    derived = {
        "k10": p["CL"] / p["V1"],
        "k12": p["Q2"] / p["V1"],
        "k13": p["Q3"] / p["V1"],
        "k21": p["Q2"] / p["V2"],
        "k31": p["Q3"] / p["V3"],
    }
    for name, value in published.items():
        assert derived[name] == pytest.approx(value, rel=1e-5), name
    assert p["V1"] / wt == pytest.approx(v1_l_per_kg, rel=1e-5)
    # and the kernel sees those rates: the disposition block of A has them on its entries
    from pksim._kernels import system_matrix
    from pksim.individual import typical_parameters
    from pksim.system import system_terms

    tp = typical_parameters(m, np.array([wt]), np.array([-1]))
    rows, cols, coef = system_terms(m, tp)
    a = system_matrix(len(m.state_names), rows, cols, coef[0])
    i = {n: k for k, n in enumerate(m.state_names)}
    c, f, s = i["central"], i["peripheral_fast"], i["peripheral_slow"]
    assert a[c, c] == pytest.approx(-(0.4381 + 0.5921 + 0.5900), rel=1e-5)
    assert a[f, c] == pytest.approx(0.5921, rel=1e-5)
    assert a[c, f] == pytest.approx(0.2470, rel=1e-5)
    assert a[s, c] == pytest.approx(0.5900, rel=1e-5)
    assert a[c, s] == pytest.approx(0.0146, rel=1e-5)
    assert a[i["elimination"], c] == pytest.approx(0.4381, rel=1e-5)
