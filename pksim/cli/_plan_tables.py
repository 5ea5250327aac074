"""Text tables of ``pksim plan person|couple|tci`` (from the plans' JSON summaries)."""

from __future__ import annotations


def _pct(p, s=None) -> str:
    if p is None:
        return "-"
    return f"{p:6.1%}" + (f" ± {s:.1%}" if s is not None else "")


def _header(s: dict) -> list[str]:
    th = s["thresholds_ng_per_ml"]
    lines = [
        f"pksim {s['pksim_version']} - plan {s['plan']} - model {s['model']}",
        f"window {th['window_lower_ng_per_ml']:g} to <{th['dissociation_ng_per_ml']:g} "
        "ng/mL (effect site)",
    ]
    if s.get("seed") is not None:
        measure = "" if s.get("dissociation_measure") != "pd" else " (PD model)"
        lines[-1] += (
            f"; block {s['block_min'][0]:g}-{s['block_min'][1]:g} min; dissociation "
            f"limit{measure} {s['dissociation_limit']:.0%}; n {s['n']}, "
            f"seed {s['seed']}"
        )
    return lines


def _verdict(s: dict) -> list[str]:
    """The plan's verdict first: met (P(goal) >= the minimum) or plainly not met."""
    mark = "GOAL MET" if s.get("meets_goal") else "GOAL NOT MET"
    return ["", f"{mark} (minimum P(goal) {s['min_p_goal']:.0%}): {s['message']}", ""]


def _near_lines(s: dict, goal: str, pcol: str, describe) -> list[str]:
    rows = s.get("near_misses") or []
    if not rows:
        return []
    out = ["near-misses (over the dissociation limit by less than 2 Monte-Carlo SEs):"]
    for r in rows:
        out.append(
            f"  {describe(r)}: P(goal) {_pct(r[goal])} ± {_pct(r[goal + '_se'])}, "
            f"P(dissociation) {_pct(r[pcol])} ± {_pct(r[pcol + '_se'])}"
        )
    return [*out, ""]


def format_person(s: dict) -> str:
    lines = _header(s) + _verdict(s)
    pcol = "p_dissociation_pd" if s.get("dissociation_measure") == "pd" else "p_dissociation"
    lines += _near_lines(
        s,
        "p_window_throughout_block",
        pcol,
        lambda r: (
            f"{s['route']} {r['dose_mg']:g} mg"
            + (
                f" + {r['booster_mg']:g} mg at {r['booster_time_min']:g} min"
                if r["booster_mg"]
                else ""
            )
        ),
    )
    if s["regimen"]:
        lines.append("regimen: " + ", ".join(d["spec"] for d in s["regimen"]))
        pop = s.get("population") or {}
        if pop:
            lines.append(
                f"median window onset {pop.get('onset_min_median') or float('nan'):.0f} "
                f"min, median minutes in window "
                f"{pop.get('minutes_in_window_median') or 0:.0f}"
            )
        lines.append("")
    pd_mode = s.get("dissociation_measure") == "pd"
    lines.append("trade-off (same virtual people for every dose):")
    lines.append(
        f"{'dose mg':>8}{'booster':>16}{'P(window block)':>20}{'P(dissociation)':>20}"
        + (f"{'P(diss.) PD':>16}" if pd_mode else "")
        + "  within limit"
    )
    for r in s["tradeoff"]:
        boost = "-" if not r["booster_mg"] else f"{r['booster_mg']:g} mg@{r['booster_time_min']:g}"
        lines.append(
            f"{r['dose_mg']:>8g}{boost:>16}{_pct(r['p_window_throughout_block']):>20}"
            f"{_pct(r['p_dissociation']):>20}"
            + (f"{_pct(r['p_dissociation_pd']):>16}" if pd_mode else "")
            + f"  {'yes' if r['meets_limit'] else 'no'}"
        )
    lines += ["", s["notice"]]
    return "\n".join(lines)


def _bar(times, values_a, lower, upper, b0, b1, width_min: float) -> str:
    out = []
    for t, v in zip(times, values_a, strict=True):
        ch = "." if v < lower else ("=" if v < upper else "!")
        if b0 <= t <= b1 and ch == ".":
            ch = ":"
        out.append(ch)
    return "".join(out)


def format_couple(s: dict, timeline) -> str:
    lines = _header(s) + _verdict(s)
    pcol = (
        "p_either_dissociates_pd"
        if s.get("dissociation_measure") == "pd"
        else "p_either_dissociates"
    )
    lines += _near_lines(
        s,
        "p_both_in_window_throughout_block",
        pcol,
        lambda r: (
            f"A {r['a_dose_mg']:g} mg, B {r['b_dose_mg']:g} mg, stagger {r['stagger_min']:g} min"
        ),
    )
    if s["a_regimen"]:
        lines.append(
            "timeline (median effect site per 5 min; . below  = window  ! dissociation;"
            " : block below window)"
        )
        th = s["thresholds_ng_per_ml"]
        lo, hi = th["window_lower_ng_per_ml"], th["dissociation_ng_per_ml"]
        b0, b1 = s["block_min"]
        step = 5.0
        t_show = min(s["t_end_min"], max(b1 + 60.0, 120.0))
        sel = timeline[(timeline["time_min"] % step == 0) & (timeline["time_min"] <= t_show)]
        times = sel["time_min"].to_numpy()
        ruler = "".join("|" if t % 30 == 0 else " " for t in times)
        lines.append(f"{'min':>6} {ruler}  (| every 30 min)")
        block = "".join("#" if b0 <= t <= b1 else " " for t in times)
        lines.append(f"{'block':>6} {block}")
        for who in ("a", "b"):
            bar = _bar(
                times, sel[f"{who}_effect_site_p50_ng_per_ml"].to_numpy(), lo, hi, b0, b1, step
            )
            lines.append(f"{who.upper():>6} {bar}")
        for e in s["timeline_events"]:
            lines.append(f"  {e['time_min']:>6g} min  {e['who']:<4} {e['event']}")
        lines.append("")
    pcol = (
        "p_either_dissociates_pd"
        if s.get("dissociation_measure") == "pd"
        else "p_either_dissociates"
    )
    lines.append("best plan at each stagger (B start - A start):")
    lines.append(
        f"{'stagger':>8}{'A mg':>7}{'B mg':>7}{'P(both in block)':>19}{'P(either diss.)':>18}"
    )
    for r in s["by_stagger"]:
        if not r["p_both_in_window_throughout_block"]:
            lines.append(f"{r['stagger_min']:>8g}{'-':>7}{'-':>7}{_pct(0.0):>19}{'-':>18}")
            continue
        lines.append(
            f"{r['stagger_min']:>8g}{r['a_dose_mg']:>7g}{r['b_dose_mg']:>7g}"
            f"{_pct(r['p_both_in_window_throughout_block']):>19}{_pct(r[pcol]):>18}"
        )
    lines += ["", s["notice"]]
    return "\n".join(lines)


def format_tci(s: dict) -> str:
    m = s["metrics"]
    lines = _header(s) + [
        f"target {s['target_ng_per_ml']:g} ng/mL effect site, {s['weight_kg']:g} kg"
        + (f" {s['sex']}" if s["sex"] else "")
        + f", pump step {s['step_s']:g} s, "
        f"{s['duration_min']:g} min",
        "",
        f"bolus {s['bolus_mg']:.2f} mg at 0 min; infused {m['infused_mg']:.2f} mg; "
        f"total {m['total_mg']:.2f} mg",
        f"target reached (±{m['tolerance_percent']:g} %) at {m['time_to_target_min']:.2f} min; "
        f"overshoot {max(0.0, m['overshoot_percent']):.2f} %; held within "
        f"{m['hold_min_percent']:+.2f} % / {m['hold_max_percent']:+.2f} %; "
        f"plasma peak {m['plasma_max_ng_per_ml']:.0f} ng/mL",
        "",
        (
            "pump schedule, one row per step:"
            if s["step_s"] >= 60
            else f"pump schedule, mean rate per minute (the {s['step_s']:g}-s steps are in "
            "--out/--json):"
        ),
        f"{'from min':>9}{'to min':>9}{'bolus mg':>10}{'rate mg/h':>11}",
    ]
    rows = s["schedule"]
    per = max(1, round(60.0 / s["step_s"]))  # steps per table row
    for i in range(0, len(rows), per):
        group = rows[i : i + per]
        rate = sum(r["rate_mg_per_h"] for r in group) / len(group)
        bolus = sum(r["bolus_mg"] for r in group)
        lines.append(
            f"{group[0]['start_min']:>9.2f}{group[-1]['end_min']:>9.2f}{bolus:>10.2f}{rate:>11.2f}"
        )
    lines.append(f"{s['duration_min']:>9.2f}{'':>9}{'':>10}{0.0:>11.2f}  (pump stops)")
    lines += [*(f"note: {n}" for n in s["notes"]), "", s["notice"]]
    return "\n".join(lines)
