"""``pksim couple``: two partners' shared time in the relational window over many couples."""

from __future__ import annotations

import argparse

from pksim.cli._common import finish, finite_float, pick, write_results
from pksim.cli._covariates import add_covariates, covariates_from_args
from pksim.cli.population import add_common, header, metric_rows, settings_from_args
from pksim.notice import NOTICE
from pksim.regimen import SPEC_HELP


def add_arguments(p: argparse.ArgumentParser) -> None:
    for who in ("a", "b"):
        p.add_argument(
            f"--{who}-dose",
            action="append",
            required=True,
            metavar="SPEC",
            help=f"partner {who.upper()}'s dose: {SPEC_HELP}",
        )
        add_covariates(p, who)
        p.add_argument(
            f"--{who}-start-offset-min",
            type=finite_float,
            default=0.0,
            help=f"shift partner {who.upper()}'s regimen by this many minutes",
        )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pksim.couple import simulate_couple

    settings = settings_from_args(args)
    result = simulate_couple(
        args.a_dose,
        args.b_dose,
        a=covariates_from_args(args, "a"),
        b=covariates_from_args(args, "b"),
        **pick(args, "a_start_offset_min", "b_start_offset_min"),
        settings=settings,
    )
    summary = result.summary()
    summary["notice"] = NOTICE
    if args.out:
        subjects = pd.concat(
            [result.a.subjects.assign(partner="a"), result.b.subjects.assign(partner="b")],
            ignore_index=True,
        )
        bands = pd.concat(
            [
                result.a.bands.add_prefix("a_").rename(columns={"a_time_min": "time_min"}),
                result.b.bands.drop(columns="time_min").add_prefix("b_"),
                result.both_in_window_over_time.drop(columns="time_min"),
            ],
            axis=1,
        )
        files = {"subjects.parquet": subjects, "couples.parquet": result.couples}
        write_results(args.out, {**files, "bands.csv": bands, "summary.json": summary})
    return finish(args, summary, format_table)


COUPLE_TABLE = (
    "both_in_window_block_coverage",
    "both_in_window_throughout_block",
    "block_fraction_both_in_window",
    "minutes_both_in_window_block",
    "entry_gap_b_minus_a_min",
    "either_dissociates",
    "only_a_dissociates",
    "only_b_dissociates",
    "both_dissociate",
    "p_either_dissociates_pd",
)
PARTNER_TABLE = (
    "reached_window",
    "in_window_block_coverage",
    "dissociated",
    "dissociated_in_block",
    "window_onset_min",
    "recovery_min",
)


def format_table(s: dict) -> str:
    lines = [
        *header(s, "simulated couples", {"A doses": "a_doses", "B doses": "b_doses"}),
        "",
        *metric_rows(COUPLE_TABLE, s),
        f"{'dissociation risk carried by':<46} {s['dissociation_risk_partner']}",
        "",
    ]
    for who in ("a", "b"):
        lines += metric_rows(PARTNER_TABLE, s, prefix=f"{who}_", who=f"{who.upper()}: ")
    lines += ["", NOTICE]
    return "\n".join(lines)
