"""Sweep files: schema validation (key + file line), grid expansion, cell seeding."""

from __future__ import annotations

import math
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from pksim.errors import InputError
from pksim.sweep import SweepFileError, build_cell, cell_seed, load_sweep, parse_sweep
from pksim.sweep._toml_lines import KeyLines
from pksim.sweep.grid import chunk_bounds, option_indices
from pksim.sweep.spec import MAX_SUBJECT_CURVES, default_chunk_cells

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

DATA = Path(__file__).resolve().parents[1] / "data"
# the valid sweep file the error tests edit (their expected line numbers are its lines)
BASE = (DATA / "sweep_base.toml").read_text(encoding="utf-8")


def spec_of(text: str = BASE):
    return parse_sweep(textwrap.dedent(text), "s.toml")


def error_of(text: str) -> SweepFileError:
    with pytest.raises(SweepFileError) as info:
        spec_of(text)
    return info.value


# ----------------------------------------------------------------------------- grid


def test_grid_is_the_product_and_a_zero_dose_collapses_its_times():
    s = spec_of()
    # weights 2 x sl 3 x booster (none, 40@30, 40@60) 3
    assert s.n_cells == 18
    assert [a.name for a in s.axes] == ["weight", "sex", "sl", "boost"]
    regimens = [build_cell(s, i).columns["regimen"] for i in range(3)]
    assert regimens == [
        "sublingual:50mg",
        "sublingual:50mg + intranasal:40mg@30min",
        "sublingual:50mg + intranasal:40mg@60min",
    ]
    c = build_cell(s, 17)
    assert c.columns["weight_kg"] == 80 and c.columns["sl_amount_mg"] == 150
    assert c.covariates["subject"] == {"sex": "mixed", "female_fraction": 0.5, "weight_kg": 80.0}
    assert [d.spec() for d in c.doses["subject"]] == ["sublingual:150mg", "intranasal:40mg@60min"]
    assert math.isnan(build_cell(s, 0).columns["boost_start_min"])


def test_every_cell_is_distinct_and_indices_round_trip():
    s = spec_of()
    seen = {tuple(option_indices(s, i)) for i in range(s.n_cells)}
    assert len(seen) == s.n_cells
    with pytest.raises(IndexError):
        option_indices(s, s.n_cells)


def test_cell_seeds_come_from_seedsequence_spawn_keys():
    s = spec_of()
    seeds = [build_cell(s, i).seed for i in range(s.n_cells)]
    assert len(set(seeds)) == s.n_cells
    expected = np.random.SeedSequence(3, spawn_key=(5,)).generate_state(2, np.uint32)
    assert seeds[5] == (int(expected[0]) | int(expected[1]) << 32) & ((1 << 63) - 1)
    assert cell_seed(3, 5) == seeds[5] and cell_seed(4, 5) != seeds[5]
    # independent of chunking: a cell's seed is a function of (sweep seed, index) only
    assert all(0 <= x < 2**63 for x in seeds)


def test_chunks_cover_every_cell_once():
    for n, k in ((1, 1), (10, 3), (1000, 10), (7, 50)):
        bounds = chunk_bounds(n, k)
        cells = [i for a, b in bounds for i in range(a, b)]
        assert cells == list(range(n))
    assert default_chunk_cells(72) == 1 and default_chunk_cells(1000) == 10
    assert default_chunk_cells(10**6) == 50


def test_iv_durations_mg_per_kg_and_weight_distributions():
    s = spec_of("""\
        [sweep]
        seed = 1
        n_subjects = 10
        [grid]
        weight_distributions = [{mean_kg = 70, sd_kg = 10}]
        sex = ["female", "male"]
        [[grid.dose]]
        route = "iv"
        amount_mg_per_kg = [0.5]
        duration_min = [20, 40]
        """)
    assert s.n_cells == 4
    c = build_cell(s, 3)
    assert c.columns["dose1_amount_mg_per_kg"] == 0.5 and c.columns["dose1_duration_min"] == 40
    assert c.covariates["subject"]["sex"] == "male"
    assert c.covariates["subject"]["weight_mean_kg"] == 70
    assert c.doses["subject"][0].spec() == "iv:0.5mg/kg/40min"


def test_provenance_names_axes_models_and_seed():
    s = spec_of()
    p = s.provenance()
    assert p["seed"] == 3 and p["sweep_text"] == textwrap.dedent(BASE)
    assert p["models"][0]["id"] == "ketamine" and len(p["models"][0]["sha256"]) == 64
    assert p["axes"][0] == {
        "name": "weight",
        "columns": ["weight_kg", "weight_mean_kg", "weight_sd_kg"],
    }


def test_shipped_examples_are_valid():
    files = sorted(EXAMPLES.glob("*.toml"))
    assert len(files) >= 3
    for f in files:
        s = load_sweep(f)
        assert s.n_cells >= 1 and s.subject_curves <= MAX_SUBJECT_CURVES


# ----------------------------------------------------------------------------- bad files


def _bad_edits() -> list:
    """The invalid-file cases, kept as data: ``tests/data/bad_sweep_edits.toml``."""
    cases = tomllib.loads((DATA / "bad_sweep_edits.toml").read_text(encoding="utf-8"))["case"]
    return [
        pytest.param(c["old"], c["new"], c["line"], c["key"], c["words"], id=c["key"])
        for c in cases
    ]


@pytest.mark.parametrize("old, new, line, key, words", _bad_edits())
def test_bad_values_name_the_key_and_the_line(old, new, line, key, words):
    assert old in BASE
    err = error_of(BASE.replace(old, new, 1))
    assert (err.line, err.key) == (line, key), str(err)
    assert words in str(err)
    assert str(err).startswith(f"s.toml line {line}: {key}: ")
    assert isinstance(err, InputError)


def test_a_grid_that_is_too_large_is_refused_before_any_work():
    text = BASE.replace("n_subjects = 50", "n_subjects = 10000000").replace(
        "weight_kg = [50, 80]", "weight_kg = [" + ", ".join(str(w) for w in range(30, 130)) + "]"
    )
    err = error_of(text)
    assert err.key == "sweep.n_subjects" and err.line == 3
    assert "subject-curves is too large" in str(err) and "1,000,000,000" in str(err)


def test_every_cell_needs_a_dose():
    err = error_of(BASE.replace("amount_mg = [50, 100, 150]", "amount_mg = [0, 100]"))
    assert err.key == "grid.dose" and "no dose" in str(err)


def test_weight_axis_is_required_and_covariates_are_checked_up_front():
    err = error_of(BASE.replace("weight_kg = [50, 80]", ""))
    assert err.key == "grid" and "no weight axis" in str(err)
    # the SD check lives in pksim.sampling.Covariates; it still names the file line
    err = error_of(
        BASE.replace("weight_kg = [50, 80]", "weight_distributions = [{mean_kg = 60, sd_kg = 80}]")
    )
    assert err.key == "grid.weight_distributions[0]" and err.line == 6


def test_not_toml_names_the_line():
    err = error_of(BASE.replace("seed = 3", "seed = = 3"))
    assert err.line == 2 and "not valid TOML" in str(err)


def test_sweep_table_is_required_and_unknown_tables_refused():
    err = error_of("[grid]\nweight_kg = [70]\n")
    assert "missing required table [sweep]" in str(err)
    err = error_of(BASE + "\n[extras]\nx = 1\n")
    assert err.key == "extras" and err.line == 19


def test_couple_only_keys_and_partner_tables():
    text = """\
        [sweep]
        kind = "couple"
        seed = 1
        n_subjects = 20
        [grid]
        b_start_offset_min = [0, 15]
        [[grid.pair]]
        name = "fm"
        a = {sex = "female", weight_mean_kg = 62, weight_sd_kg = 8}
        b = {sex = "male", weight_kg = 85}
        [[grid.dose]]
        route = "sublingual"
        amount_mg = [75, 100]
        [[grid.dose]]
        name = "boost_b"
        route = "intranasal"
        amount_mg = [0, 40]
        start_min = [40]
        partner = "b"
        """
    s = spec_of(text)
    assert s.n_cells == 1 * 2 * 2 * 2
    c = build_cell(s, 7)
    assert [d.spec() for d in c.doses["a"]] == ["sublingual:100mg"]
    assert [d.spec() for d in c.doses["b"]] == ["sublingual:100mg", "intranasal:40mg@40min"]
    assert c.offsets_min == {"a": 0.0, "b": 15.0}
    assert c.covariates["a"] == {"sex": "female", "weight_mean_kg": 62.0, "weight_sd_kg": 8.0}
    assert c.columns["a_regimen"] == "sublingual:100mg" and c.columns["pair"] == "fm"
    err = error_of(text.replace('b = {sex = "male", weight_kg = 85}', 'b = {sex = "male"}'))
    assert err.key == "grid.pair[0].b" and err.line == 10
    err = error_of(text.replace("[grid]", "[grid]\nweight_kg = [70]"))
    assert err.key == "grid.weight_kg" and "only allowed in population" in str(err)


def test_key_lines_follow_tables_arrays_and_inline_tables():
    text = textwrap.dedent('''\
        [a]
        x = """one
        two [ { """
        y = [1,
          {p = 2, q = [3, 4]}]
        [[b.c]]
        z = 1
        [[b.c]]
        z = 2
        [b.c.d]
        w = 'lit'
        ''')
    k = KeyLines(text)
    assert k.line(("a", "x")) == 2 and k.line(("a", "y", 1, "q", 1)) == 5
    assert k.line(("b", "c", 1, "z")) == 9 and k.line(("b", "c", 1, "d", "w")) == 11
    assert k.line(("b", "c", 0, "nope")) == 6 and k.line(("zzz",)) is None


def test_load_sweep_reports_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_sweep(tmp_path / "missing.toml")
    f = tmp_path / "m.toml"
    f.write_text(
        BASE.replace("amount_mg = [50, 100, 150]", "amount_mg = [50]") + "\n", encoding="utf-8"
    )
    s = load_sweep(f)
    assert s.path == str(f) and s.name == "m"


def test_coverage_and_band_uncertainty_reach_the_cells_only_when_given():
    assert "coverage_percent" not in build_cell(spec_of(), 0).analysis
    s = spec_of(BASE + "\n[analysis]\ncoverage_percent = 60\nband_uncertainty = true\n")
    a = build_cell(s, 0).analysis
    assert a["coverage_percent"] == 60.0 and a["band_uncertainty"] is True
    err = error_of(BASE + "\n[analysis]\ncoverage_percent = 0\n")
    assert "coverage_percent" in str(err)


def test_hold_time_is_an_axis_and_hold_end_and_sprays_pass_through():
    s = spec_of(
        """\
        [sweep]
        seed = 3
        n_subjects = 50

        [grid]
        weight_kg = [70]

        [[grid.dose]]
        name = "sl"
        route = "sublingual"
        amount_mg = [100]
        hold_min = [5, 15]
        hold_end = "spit"

        [[grid.dose]]
        name = "boost"
        route = "intranasal"
        amount_mg = [40]
        start_min = [40]
        sprays = 4
        """
    )
    assert s.n_cells == 2
    cells = [build_cell(s, i) for i in range(2)]
    assert [c.columns["sl_hold_min"] for c in cells] == [5.0, 15.0]
    assert [d.spec() for d in cells[1].doses["subject"]] == [
        "sublingual:100mg,hold=15min,spit",
        "intranasal:40mg@40min,sprays=4",
    ]


@pytest.mark.parametrize(
    "entry, key",
    [
        ('route = "intranasal"\namount_mg = [40]\nhold_min = [5]', "hold_min"),
        ('route = "oral"\namount_mg = [40]\nsprays = 2', "sprays"),
        ('route = "sublingual"\namount_mg = [40]\nhold_end = "gargle"', "hold_end"),
        ('route = "sublingual"\namount_mg = [40]\nhold_min = [90]', "hold_min"),
    ],
)
def test_dose_options_a_route_does_not_take_name_the_key(entry, key):
    err = error_of(
        f"[sweep]\nseed = 1\nn_subjects = 5\n[grid]\nweight_kg = [70]\n"
        f'[[grid.dose]]\nname = "x"\n{entry}\n'
    )
    assert key in str(err)
