"""Couples: partner streams, joint window metrics against hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pksim.couple import simulate_couple
from pksim.errors import InputError
from pksim.population import simulate_population
from pksim.sampling import Covariates
from pksim.simulation import simulate

A = Covariates(weight_mean_kg=65, weight_sd_kg=10, sex="female")
B = Covariates(weight_mean_kg=85, weight_sd_kg=12, sex="male")


def test_partner_a_is_the_population_with_the_same_seed():
    r = simulate_couple(
        ["sublingual:100mg"], ["sublingual:125mg", "intranasal:40mg@40min"], a=A, b=B, n=300, seed=5
    )
    p = simulate_population(["sublingual:100mg"], covariates=A, n=300, seed=5)
    assert r.a.subjects.equals(p.subjects) and r.a.bands.equals(p.bands)
    # B is an independent stream, not A's draws again
    same = simulate_couple(["sublingual:100mg"], ["sublingual:100mg"], a=A, b=A, n=300, seed=5)
    assert not same.a.subjects.equals(same.b.subjects)


def test_identical_partners_share_every_minute():
    """Same person, same regimen, no variability: both partners' windows coincide."""
    cov = Covariates(weight_kg=70, sex="male")
    r = simulate_couple(
        ["sublingual:100mg"], ["sublingual:100mg"], a=cov, b=cov, n=5, seed=1, variability=False
    )
    c = simulate(["sublingual:100mg"], weight_kg=70, sex="male")
    minutes = r.a.subjects.minutes_in_window.to_numpy()
    assert minutes[0] > 0
    np.testing.assert_allclose(r.couples.minutes_both_in_window, minutes, rtol=1e-12)
    assert np.all(r.couples.entry_gap_min == 0.0)
    assert np.array_equal(
        r.couples.both_in_window_throughout_block, r.a.subjects.in_window_throughout_block
    )
    np.testing.assert_array_equal(
        r.both_in_window_over_time.p_both_in_window, r.a.band_probability.p_window
    )
    inside = (c.effect_site_ng_per_ml >= 50) & (c.effect_site_ng_per_ml < 150)
    np.testing.assert_array_equal(r.both_in_window_over_time.p_both_in_window, inside.astype(float))


def _twins(a_doses, b_doses, sex: str, **kw):
    """Couples of two identical typical 70-kg people (no variability): hand-computable."""
    cov = Covariates(weight_kg=70, sex=sex)
    return simulate_couple(a_doses, b_doses, a=cov, b=cov, n=2, seed=0, variability=False, **kw)


def test_shifted_partner_hand_computed():
    """B takes A's regimen 30 min later: B's window is A's shifted by 30 min, so the gap is
    30 min and (single window interval) the shared time is A's minutes minus 30."""
    sl = ["sublingual:100mg"]
    r = _twins(sl, sl, "female", b_start_offset_min=30, t_end_min=400)
    a, b = r.a.subjects.iloc[0], r.b.subjects.iloc[0]
    assert b.window_onset_min == pytest.approx(a.window_onset_min + 30, abs=1e-9)
    assert b.window_offset_min == pytest.approx(a.window_offset_min + 30, abs=1e-9)
    assert a.minutes_in_window == pytest.approx(a.window_offset_min - a.window_onset_min)
    row = r.couples.iloc[0]
    assert row.entry_gap_min == pytest.approx(30.0, abs=1e-9)
    assert row.entry_gap_b_minus_a_min == pytest.approx(30.0, abs=1e-9)
    assert row.minutes_both_in_window == pytest.approx(a.minutes_in_window - 30, abs=1e-9)
    assert r.summary()["b_start_offset_min"] == 30.0


def test_never_overlapping_partners():
    """A's window is over before B doses: no shared minutes, not both throughout the block."""
    r = _twins(["iv:10mg"], ["iv:10mg@200min"], "male", t_end_min=300, thresholds={"window": 20})
    row = r.couples.iloc[0]
    a, b = r.a.subjects.iloc[0], r.b.subjects.iloc[0]
    assert a.window_offset_min < 200 <= b.window_onset_min
    assert row.minutes_both_in_window == 0.0 and not row.both_in_window_throughout_block
    assert row.entry_gap_min == pytest.approx(b.window_onset_min - a.window_onset_min)


def test_couple_metrics_consistent_with_partners():
    r = simulate_couple(
        ["sublingual:100mg"], ["sublingual:100mg", "intranasal:50mg@40min"], a=A, b=B, n=400, seed=9
    )
    sa, sb, c = r.a.subjects, r.b.subjects, r.couples
    assert np.array_equal(c.either_dissociates, sa.dissociated | sb.dissociated)
    assert np.array_equal(
        c.both_in_window_throughout_block,
        sa.in_window_throughout_block & sb.in_window_throughout_block,
    )
    both = sa.reached_window & sb.reached_window
    assert np.array_equal(np.isnan(c.entry_gap_min), ~both)
    np.testing.assert_allclose(
        c.entry_gap_min[both], np.abs(sb.window_onset_min - sa.window_onset_min)[both]
    )
    assert np.all(
        c.minutes_both_in_window <= np.minimum(sa.minutes_in_window, sb.minutes_in_window) + 1e-9
    )
    s = r.summary()
    for key in ("p_both_in_window_block", "p_either_dissociates", "p_a_window", "p_b_window"):
        assert 0 <= s[key] <= 1 and f"{key}_se" in s
    for key in (
        "minutes_both_in_window_median",
        "minutes_both_in_window_median_se",
        "entry_gap_min_median",
    ):
        assert s[key] is not None
    assert s["p_either_dissociates"] == pytest.approx(c.either_dissociates.mean())
    json.dumps(s, allow_nan=False)
    again = simulate_couple(
        ["sublingual:100mg"],
        ["sublingual:100mg", "intranasal:50mg@40min"],
        a=A,
        b=B,
        n=400,
        seed=9,
        chunk_size=33,
    )
    assert again.couples.equals(c) and again.b.subjects.equals(sb)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"a_start_offset_min": -5}, "a_start_offset_min"),
        ({"b_start_offset_min": float("nan")}, "b_start_offset_min"),
        ({"n": 0}, "n"),
        ({"block_min": (100, 50)}, "block-min"),
    ],
)
def test_bad_input(kwargs, field):
    args = dict(a=A, b=B, n=10, seed=1)
    args.update(kwargs)
    with pytest.raises(InputError) as exc:
        simulate_couple(["sublingual:100mg"], ["sublingual:100mg"], **args)
    assert exc.value.field == field
