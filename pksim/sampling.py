"""Who is simulated: covariates (weight, sex) and between-subject variability draws.

Reproducibility contract
------------------------
Every random number is drawn in fixed *RNG blocks* of :data:`BLOCK_SUBJECTS` subjects. Block
``b`` of stream ``k`` for partner ``p`` uses
``Generator(PCG64(SeedSequence(seed, spawn_key=(p, k, b))))`` and always draws the whole block,
so subject ``i``'s values depend only on ``(seed, p, k, i)`` and on the model — never on the
chunk size, the thread count or the executor that asks for them. Each kind of draw has its own
stream (:data:`STREAMS`), so switching dose variability on does not change anyone's weight or
clearance, and adding a second dose does not change the first dose's draw.

Distributions
-------------
* Weight: log-normal with the given **arithmetic** mean ``m`` and SD ``s`` (per sex if given):
  ``sigma^2 = ln(1 + s^2/m^2)``, ``mu = ln m - sigma^2 / 2``; values outside 20–300 kg (the
  simulator's weight range) are redrawn, so the distribution is truncated to that range.
* Weight table: resampled uniformly with replacement.
* Sex: female with probability ``female_fraction`` when ``sex == "mixed"``.
* Random effects ``eta``: multivariate normal with SDs from the model file and the model's
  correlation matrix (``eta = (z @ L.T) * sd`` with ``L`` the Cholesky factor), applied by
  :func:`pksim.individual.apply_random_effects` (log-normal or logit-normal).
* Delivered dose: log-normal multiplier with mean 1 and the given CV, per subject and dose.
* Band edges (optional): the window floor and the dissociation edge, each log-uniform over the
  model's published ``lower_range_ng_per_ml`` (independent uniforms, one column per edge).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pksim.errors import InputError
from pksim.model import Model

BLOCK_SUBJECTS = 4096
# stream 4 drew PD thresholds before the PD model integrated them out (pksim.pd); not reused,
# so no stream changes meaning between versions
STREAMS = {"sex": 0, "weight": 1, "eta": 2, "dose": 3, "bands": 5}
WEIGHT_RANGE_KG = (20.0, 300.0)
SEXES = ("female", "male", "mixed")
_MAX_REDRAW_ROUNDS = 200


@dataclass(frozen=True)
class Covariates:
    """Who is simulated: a fixed weight, a sampled weight, or a table of weights; and sex.

    Give exactly one of ``weight_kg``; ``weight_mean_kg`` with ``weight_sd_kg``; or
    ``weight_table_kg``. Per-sex means/SDs (``weight_mean_female_kg`` …) override the common
    mean/SD for that sex, which lets a mixed population have sex-specific weights.

    Parameters
    ----------
    weight_kg : fixed body weight (kg), 20–300
    weight_mean_kg, weight_sd_kg : arithmetic mean and SD (kg) of a log-normal weight
        distribution truncated (by redrawing) to 20–300 kg
    sex : ``"female"``, ``"male"`` or ``"mixed"``
    female_fraction : probability of being female when ``sex == "mixed"``
    weight_table_kg : weights (kg) resampled with replacement
    weight_mean_female_kg, weight_sd_female_kg, weight_mean_male_kg, weight_sd_male_kg :
        optional per-sex overrides of the sampled weight distribution
    """

    weight_kg: float | None = None
    weight_mean_kg: float | None = None
    weight_sd_kg: float | None = None
    sex: str = "mixed"
    female_fraction: float = 0.5
    weight_table_kg: tuple[float, ...] | None = None
    weight_mean_female_kg: float | None = None
    weight_sd_female_kg: float | None = None
    weight_mean_male_kg: float | None = None
    weight_sd_male_kg: float | None = None

    def __post_init__(self):
        validate_covariates(self)

    @property
    def mode(self) -> str:
        """``"fixed"``, ``"lognormal"`` or ``"table"``."""
        if self.weight_kg is not None:
            return "fixed"
        if self.weight_table_kg is not None:
            return "table"
        return "lognormal"

    def weight_params_kg(self, sex: str) -> tuple[float, float]:
        """``(mean, sd)`` (kg) of the sampled weight for ``sex`` (``"female"``/``"male"``)."""
        mean = getattr(self, f"weight_mean_{sex}_kg")
        sd = getattr(self, f"weight_sd_{sex}_kg")
        return (
            self.weight_mean_kg if mean is None else mean,
            self.weight_sd_kg if sd is None else sd,
        )

    def typical_weight_kg(self) -> float:
        """The weight of the typical person drawn as an overlay (fixed, mean, or table median)."""
        if self.weight_kg is not None:
            return float(self.weight_kg)
        if self.weight_table_kg is not None:
            return float(np.median(np.asarray(self.weight_table_kg, float)))
        if self.sex in ("female", "male"):
            return float(self.weight_params_kg(self.sex)[0])
        return float(self.weight_mean_kg)

    def typical_sex(self) -> str | None:
        """Sex of the typical person: the given one, or None (no sex effect) for a mix."""
        return self.sex if self.sex in ("female", "male") else None

    def describe(self) -> dict:
        """Resolved configuration for provenance records (JSON-friendly)."""
        out = {"weight_mode": self.mode, "sex": self.sex}
        if self.sex == "mixed":
            out["female_fraction"] = self.female_fraction
        if self.mode == "fixed":
            out["weight_kg"] = self.weight_kg
        elif self.mode == "table":
            out["weight_table_n"] = len(self.weight_table_kg)
            out["weight_table_median_kg"] = self.typical_weight_kg()
        else:
            for s in ("female", "male"):
                if self.sex in (s, "mixed"):
                    m, sd = self.weight_params_kg(s)
                    out[f"weight_mean_{s}_kg"] = m
                    out[f"weight_sd_{s}_kg"] = sd
        return out


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_covariates(c: Covariates) -> None:
    """Raise :class:`InputError` naming the field when a covariate setting is unusable."""
    lo, hi = WEIGHT_RANGE_KG
    if c.sex not in SEXES:
        raise InputError("sex", f"unknown value {c.sex!r}", ", ".join(SEXES))
    if not (_finite(c.female_fraction) and 0.0 <= c.female_fraction <= 1.0):
        raise InputError("female_fraction", f"{c.female_fraction!r}", "0 to 1")
    sampled = (
        c.weight_mean_kg is not None
        or c.weight_sd_kg is not None
        or any(
            getattr(c, f"weight_{k}_{s}_kg") is not None
            for k in ("mean", "sd")
            for s in ("female", "male")
        )
    )
    modes = [c.weight_kg is not None, sampled, c.weight_table_kg is not None]
    if sum(modes) != 1:
        raise InputError(
            "weight",
            "give exactly one of a fixed weight, a mean and SD, or a table",
            "weight_kg | weight_mean_kg + weight_sd_kg | weight_table_kg",
        )
    if c.weight_kg is not None and not (_finite(c.weight_kg) and lo <= c.weight_kg <= hi):
        raise InputError("weight-kg", f"{c.weight_kg!r} kg is out of range", f"{lo:g} to {hi:g} kg")
    if c.weight_table_kg is not None:
        table = c.weight_table_kg
        if len(table) == 0 or not all(_finite(w) and lo <= w <= hi for w in table):
            raise InputError(
                "weight table",
                "needs at least one weight, each within range",
                f"{lo:g} to {hi:g} kg",
            )
    if sampled:
        for s in ("female", "male"):
            if c.sex not in (s, "mixed"):
                continue
            mean, sd = c.weight_params_kg(s)
            if mean is None or sd is None:
                raise InputError(
                    "weight-mean-kg/weight-sd-kg",
                    f"mean and SD are needed for {s}s",
                    "both --weight-mean-kg and --weight-sd-kg",
                )
            if not (_finite(mean) and lo <= mean <= hi):
                raise InputError(
                    "weight-mean-kg", f"{mean!r} kg is out of range", f"{lo:g} to {hi:g} kg"
                )
            if not (_finite(sd) and 0.0 <= sd <= mean):
                raise InputError("weight-sd-kg", f"{sd!r} kg", f"0 to the mean ({mean:g} kg)")


# ----------------------------------------------------------------------------- RNG blocks


def block_generator(
    seed: int, partner: int, stream: str, block: int, sub: int = 0
) -> np.random.Generator:
    """The generator of one RNG block (see the module docstring)."""
    key = (partner, STREAMS[stream], block) if sub == 0 else (partner, STREAMS[stream], block, sub)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def check_seed(seed) -> int:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= int(seed) < 2**63
    ):
        raise InputError("seed", f"{seed!r} is not a non-negative integer", "0 to 2**63 - 1")
    return int(seed)


def _blocks(start: int, stop: int):
    """``(block, lo, hi, offset)``: subjects ``start..stop`` as slices of RNG blocks."""
    b = start // BLOCK_SUBJECTS
    while b * BLOCK_SUBJECTS < stop:
        b0 = b * BLOCK_SUBJECTS
        lo, hi = max(start, b0) - b0, min(stop, b0 + BLOCK_SUBJECTS) - b0
        yield b, lo, hi, b0 + lo - start
        b += 1


class BlockDraws:
    """Draw per-subject random numbers for any subject range ``[start, stop)``.

    Each block is generated whole and cached (the last few blocks), so small chunks do not
    regenerate a block for every chunk.
    """

    def __init__(self, seed: int, partner: int = 0):
        self.seed = check_seed(seed)
        self.partner = int(partner)
        self._cache: dict[tuple, np.ndarray] = {}

    def _block(self, key: tuple, make) -> np.ndarray:
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 32:
                self._cache.clear()
            hit = self._cache[key] = make()
        return hit

    def rows(self, start: int, stop: int, key: tuple, make_block) -> np.ndarray:
        """Rows ``start..stop`` of the per-block arrays returned by ``make_block(block)``."""
        parts = []
        for b, lo, hi, _ in _blocks(start, stop):
            parts.append(self._block(key + (b,), lambda b=b: make_block(b))[lo:hi])
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    # -- covariates ------------------------------------------------------------------------

    def sex_code(self, cov: Covariates, start: int, stop: int) -> np.ndarray:
        """1 = female, 0 = male (int64)."""
        if cov.sex != "mixed":
            return np.full(stop - start, 1 if cov.sex == "female" else 0, dtype=np.int64)
        u = self.rows(
            start,
            stop,
            ("sex",),
            lambda b: block_generator(self.seed, self.partner, "sex", b).random(BLOCK_SUBJECTS),
        )
        return (u < cov.female_fraction).astype(np.int64)

    def weight_kg(self, cov: Covariates, sex: np.ndarray, start: int, stop: int) -> np.ndarray:
        n = stop - start
        if cov.mode == "fixed":
            return np.full(n, float(cov.weight_kg))
        if cov.mode == "table":
            table = np.asarray(cov.weight_table_kg, float)
            idx = self.rows(
                start,
                stop,
                ("table", table.size),
                lambda b: block_generator(self.seed, self.partner, "weight", b).integers(
                    0, table.size, BLOCK_SUBJECTS
                ),
            )
            return table[idx]
        # log-normal: standard-normal z per subject, truncated by redrawing out-of-range values
        # separately for each sex's (mu, sigma) so a subject's weight depends only on its own z.
        out = np.empty(n)
        for code, s in ((1, "female"), (0, "male")):
            mask = sex == code
            if not mask.any():
                continue
            mean, sd = cov.weight_params_kg(s)
            z = self.rows(
                start,
                stop,
                ("weight", s, mean, sd),
                lambda b, mean=mean, sd=sd: _lognormal_block(
                    block_generator(self.seed, self.partner, "weight", b), mean, sd
                ),
            )
            out[mask] = z[mask]
        return out

    # -- random effects --------------------------------------------------------------------

    def eta(self, model: Model, start: int, stop: int) -> np.ndarray:
        """``(n, n_terms)`` random effects with the model's SDs and correlations."""
        n_terms = len(model.variability)
        if n_terms == 0:
            return np.zeros((stop - start, 0))
        sd = np.array([t.sd for t in model.variability])
        chol = np.linalg.cholesky(np.asarray(model.correlation, float))

        def make(b):
            z = block_generator(self.seed, self.partner, "eta", b).standard_normal(
                (BLOCK_SUBJECTS, n_terms)
            )
            return (z @ chol.T) * sd

        return self.rows(start, stop, ("eta", model.sha256), make)

    def dose_scale(self, n_doses: int, cv_percent: float, start: int, stop: int) -> np.ndarray:
        """``(n, n_doses)`` log-normal delivered-dose multipliers with mean 1 and CV ``cv``."""
        n = stop - start
        if cv_percent == 0:
            return np.ones((n, n_doses))
        sigma = math.sqrt(math.log1p((cv_percent / 100.0) ** 2))
        cols = []
        for d in range(n_doses):
            z = self.rows(
                start,
                stop,
                ("dose", d),
                lambda b, d=d: block_generator(
                    self.seed, self.partner, "dose", b, sub=d + 1
                ).standard_normal(BLOCK_SUBJECTS),
            )
            cols.append(np.exp(sigma * z - 0.5 * sigma**2))
        return np.stack(cols, axis=1)

    def band_uniforms(self, n_edges: int, start: int, stop: int) -> np.ndarray:
        """``(n, n_edges)`` uniforms on [0, 1) for the drawn band edges (``bands`` stream)."""
        return self.rows(
            start,
            stop,
            ("bands", n_edges),
            lambda b: block_generator(self.seed, self.partner, "bands", b).random(
                (BLOCK_SUBJECTS, n_edges)
            ),
        )


def lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the log-normal with arithmetic mean ``mean`` and SD ``sd``."""
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


def _lognormal_block(gen: np.random.Generator, mean: float, sd: float) -> np.ndarray:
    lo, hi = WEIGHT_RANGE_KG
    mu, sigma = lognormal_params(mean, sd)
    w = np.exp(mu + sigma * gen.standard_normal(BLOCK_SUBJECTS))
    for _ in range(_MAX_REDRAW_ROUNDS):
        bad = (w < lo) | (w > hi)
        if not bad.any():
            return w
        w[bad] = np.exp(mu + sigma * gen.standard_normal(int(bad.sum())))
    raise InputError(
        "weight-sd-kg",
        f"mean {mean:g} kg with SD {sd:g} kg puts too few weights within {lo:g}-{hi:g} kg",
        "a narrower distribution",
    )


def sample_subjects(
    model: Model,
    covariates: Covariates,
    n: int,
    seed: int,
    *,
    variability: bool = True,
    start: int = 0,
    partner: int = 0,
    weight_scaling: str | None = None,
) -> dict[str, np.ndarray]:
    """Covariates and individual parameters (internal units) of subjects ``start..start+n``.

    Returns a dict with ``weight_kg``, ``sex_code`` (1 female, 0 male), ``eta`` and one array
    per model parameter — handy for checking that the sampled parameters have the model's
    means, variances and correlations.
    """
    from pksim.individual import apply_random_effects, typical_parameters

    draws = BlockDraws(seed, partner)
    stop = start + n
    sex = draws.sex_code(covariates, start, stop)
    wt = draws.weight_kg(covariates, sex, start, stop)
    eta = draws.eta(model, start, stop) if variability else np.zeros((n, len(model.variability)))
    params = apply_random_effects(model, typical_parameters(model, wt, sex, weight_scaling), eta)
    return {"weight_kg": wt, "sex_code": sex, "eta": eta, **params}


def covariates_from_table(weights_kg: Sequence[float], **kwargs) -> Covariates:
    """Covariates resampling a user table of weights (kg)."""
    return Covariates(weight_table_kg=tuple(float(w) for w in weights_kg), **kwargs)
