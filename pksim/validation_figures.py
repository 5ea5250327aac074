"""Figures of the validation report: predicted vs observed Cmax, and each arm's simulated curve
under its observed summary values.

Builders are pure (a table or a :class:`~pksim.validation.ValidationRun` in, a matplotlib
:class:`~matplotlib.figure.Figure` out) and use :class:`~matplotlib.figure.Figure` directly: no
pyplot state, so they are safe in threads.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pksim.arm_prediction import FOLD_LOOSE, FOLD_TIGHT
from pksim.observations import spread_interval, tmax_window
from pksim.validation import ValidationRun

__all__ = ["cmax_figure", "overlay_figure", "png_bytes"]

DPI = 110


def cmax_figure(frame: pd.DataFrame, model_id: str) -> Figure:
    """Predicted vs observed Cmax on log-log axes, one labelled point per arm.

    Lines: identity, 1.25-fold and 2-fold. Filled markers are arms held against the model,
    open markers arms only reported (e.g. paediatric). Horizontal bars: the observed spread
    (SD, GSD or range as the data give it).
    """
    f = frame[(frame["model_id"] == model_id) & frame["cmax_ratio"].notna()]
    fig = Figure(figsize=(6.4, 6.0), layout="constrained")
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Observed Cmax (ng/mL)")
    ax.set_ylabel("Predicted Cmax (ng/mL)")
    ax.set_title(f"{model_id}: predicted vs observed plasma Cmax")
    if f.empty:
        ax.text(
            0.5,
            0.5,
            "no arm with an observed Cmax",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_xlim(1, 1000)
        ax.set_ylim(1, 1000)
        return fig
    obs = f["cmax_obs_ng_per_ml"].to_numpy(float)
    pred = f["cmax_pred_ng_per_ml"].to_numpy(float)
    lows, highs = [], []
    for (_, row), o in zip(f.iterrows(), obs, strict=True):
        iv = spread_interval(o, row["cmax_spread"])
        lo, hi = iv if iv else (o, o)
        lows.append(max(lo, o / 20.0))  # an SD larger than the mean: clip for the log axis
        highs.append(hi)
    lows, highs = np.array(lows), np.array(highs)
    lo = min(obs.min(), pred.min(), lows.min()) / 1.6
    hi = max(obs.max(), pred.max(), highs.max()) * 1.6
    x = np.array([lo, hi])
    ax.plot(x, x, color="black", lw=1, label="identity")
    for fold, style, label in ((FOLD_TIGHT, "--", "1.25-fold"), (FOLD_LOOSE, ":", "2-fold")):
        ax.plot(x, x * fold, color="grey", ls=style, lw=1, label=label)
        ax.plot(x, x / fold, color="grey", ls=style, lw=1)
    held = f["held_against_model"].to_numpy(bool)
    for mask, face, label in (
        (held, "C0", "held against model"),
        (~held, "none", "reported only (not held)"),
    ):
        if not mask.any():
            continue
        ax.errorbar(
            obs[mask],
            pred[mask],
            xerr=np.vstack([obs[mask] - lows[mask], highs[mask] - obs[mask]]),
            fmt="o",
            mfc=face,
            mec="C0",
            ecolor="C0",
            elinewidth=0.8,
            capsize=2,
            label=label,
        )
    for arm_id, cal, o, p in zip(f["arm_id"], f["used_in_calibration"], obs, pred, strict=True):
        ax.annotate(
            arm_id + (" (calibration)" if cal else ""),
            (o, p),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
        )
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def overlay_figure(run: ValidationRun, model_id: str) -> Figure:
    """Simulated plasma curve per arm with the observed summary values on top.

    Only summary statistics were observed, so each panel shows the observed Cmax at the
    observed Tmax as a point with its spread as error bars; an observed Tmax without a Cmax
    as a vertical line with its accepted window shaded; a Cmax without a Tmax as a horizontal
    line.
    """
    f = run.frame[
        (run.frame["model_id"] == model_id)
        & (run.frame["cmax_obs_ng_per_ml"].notna() | run.frame["tmax_obs_min"].notna())
    ]
    f = f[[(model_id, a) in run.curves for a in f["arm_id"]]]
    n = max(len(f), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.suptitle(f"{model_id}: simulated plasma curves (typical subject) vs observed summary PK")
    if f.empty:
        axes[0].text(
            0.5,
            0.5,
            "no arm with an observed Cmax or Tmax",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
    for ax, (_, row) in zip(axes, f.iterrows(), strict=False):
        arm = run.arms[row["arm_id"]]
        curve = run.curves[(model_id, arm.id)]
        t0 = arm.last_dose_min if arm.tmax_after == "last dose" else 0.0
        t_end = arm.last_dose_min + max(240.0, 2.5 * (arm.tmax_min or 0.0))
        keep = curve.time_min <= t_end
        ax.plot(
            curve.time_min[keep],
            curve.plasma_ng_per_ml[keep],
            color="C0",
            lw=1.2,
            label="simulated plasma",
        )
        cmax, tmax = arm.cmax_ng_per_ml, arm.tmax_min
        if cmax is not None and tmax is not None:
            yi = spread_interval(cmax, arm.cmax_spread)
            xi = spread_interval(tmax, arm.tmax_spread)
            yerr = [[cmax - yi[0]], [yi[1] - cmax]] if yi else None
            xerr = [[tmax - xi[0]], [xi[1] - tmax]] if xi else None
            ax.errorbar(
                [t0 + tmax],
                [cmax],
                xerr=xerr,
                yerr=yerr,
                fmt="s",
                color="C3",
                capsize=3,
                label=f"observed Cmax at Tmax ({arm.cmax_stat or 'value'})",
            )
        elif cmax is not None:
            ax.axhline(cmax, color="C3", ls="--", lw=1, label="observed Cmax (Tmax not given)")
            yi = spread_interval(cmax, arm.cmax_spread)
            if yi:
                ax.axhspan(yi[0], yi[1], color="C3", alpha=0.12, lw=0)
        elif tmax is not None:
            lo, hi, _ = tmax_window(tmax, arm.tmax_stat, arm.tmax_spread)
            ax.axvline(t0 + tmax, color="C3", ls="--", lw=1, label="observed Tmax (no Cmax)")
            ax.axvspan(t0 + lo, t0 + hi, color="C3", alpha=0.12, lw=0, label="accepted Tmax")
        held = "" if row["held_against_model"] else " (not held)"
        ax.set_title(
            f"{arm.id}{held}\n{arm.route} {arm.dose_text()}, {row['weight_kg']:g} kg", fontsize=8
        )
        ax.set_xlabel("Time after first dose (min)", fontsize=8)
        ax.set_ylabel("Plasma (ng/mL)", fontsize=8)
        ax.set_xlim(0, t_end)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    for ax in axes[len(f) :]:
        ax.set_visible(False)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG file content (fixed resolution, so reruns give the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
