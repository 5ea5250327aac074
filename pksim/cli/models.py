"""``pksim models``: the model library with citations, validity ranges and known biases."""

from __future__ import annotations

import argparse

from pksim.cli._common import print_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("name", nargs="?", help="show one model's parameters in full")


def run(args: argparse.Namespace) -> int:
    from pksim.model import available_models, load_model

    names = [args.name] if args.name else available_models()
    models = [load_model(n) for n in names]
    if args.json:
        print_json([model_record(m, full=bool(args.name)) for m in models])
        return 0
    for m in models:
        lo, hi = m.validity_weight_kg
        alo, ahi = m.validity_age_years
        print(f"{m.id}  [{m.drug}]  {m.name}")
        print(f"    source:   {m.citation()}")
        print(f"    validity: {lo:g}-{hi:g} kg, {alo:g}-{ahi:g} y; {m.validity_population}")
        print(
            f"    routes:   {', '.join(m.routes)}; weight scaling: {', '.join(m.scaling_schemes)}"
            f" (default {m.default_scaling})"
        )
        if args.name:
            print("    parameters:")
            for p in m.parameters.values():
                print(
                    f"      {p.name:14} {p.published_value:>10g} {p.published_unit:10} [{p.tag}] "
                    f"{p.description} - {m.references[p.source].citation.split('.')[0]}"
                )
            for b in m.known_biases:
                print(f"    bias: {b}")
        print()
    return 0


def model_record(m, full: bool = False) -> dict:
    rec = {
        "id": m.id,
        "name": m.name,
        "drug": m.drug,
        "citation": m.citation(),
        "validity": {
            "weight_kg": list(m.validity_weight_kg),
            "age_years": list(m.validity_age_years),
            "population": m.validity_population,
        },
        "routes": list(m.routes),
        "weight_scaling": list(m.scaling_schemes),
        "sha256": m.sha256,
    }
    if full:
        rec["parameters"] = {
            p.name: {
                "value": p.published_value,
                "unit": p.published_unit,
                "description": p.description,
                "tag": p.tag,
                "source": m.references[p.source].citation,
                "source_detail": p.source_detail,
            }
            for p in m.parameters.values()
        }
        rec["known_biases"] = list(m.known_biases)
    return rec
