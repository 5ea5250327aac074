"""``[routes.ROUTE]`` sections: a route is data, the absorption pathways a dose takes.

A route declares its pathways (fraction, bioavailability, lag, bolus or zero-order input) and,
optionally, a hold-then-swallow and sprays; the dose options it accepts follow from these
(:attr:`pksim.model.Route.options`), so adding a route is a model-file section, not code.
"""

from __future__ import annotations

from pksim.model.reader import TableReader
from pksim.model.schema import PATHWAY_INPUTS, Hold, Pathway, Route, Sprays, Transfer


def _read_hold(
    r: TableReader,
    raw: dict,
    where: str,
    target,
    transfers: list[Transfer],
    param_ref,
    bioavailability,
) -> Hold:
    r.check_keys(raw, {"compartment", "default", "swallow_to", "swallow_bioavailability"}, where)
    comp = target(r.get(raw, "compartment", where, str), f"{where}.compartment")
    if any(t.target == comp for t in transfers):
        raise r.fail(
            f"{where}.compartment",
            f"{comp!r} receives a transfer; a held compartment "
            "may only lose drug (its content at the end of the hold must be exact)",
        )
    outs = [t for t in transfers if t.source == comp]
    if not outs or any(t.clearance is not None for t in outs):
        raise r.fail(
            f"{where}.compartment",
            f"{comp!r} needs first-order outflows given as "
            "'rate' (or a transit chain), not 'clearance'",
        )
    default = param_ref(r.get(raw, "default", where, str), f"{where}.default", "time")
    return Hold(
        comp,
        default,
        target(r.get(raw, "swallow_to", where, str), f"{where}.swallow_to"),
        bioavailability(raw, "swallow_bioavailability", where),
    )


def read_routes(
    r: TableReader,
    data: dict,
    names: list[str],
    entry: dict[str, str],
    transfers: list[Transfer],
    param_ref,
) -> dict[str, Route]:
    def target(name: str, where: str) -> str:
        name = entry.get(name, name)
        if name not in names:
            raise r.fail(where, f"unknown compartment or transit chain {name!r}")
        return name

    def bioavailability(table: dict, key: str, where: str) -> float | str:
        bio = r.get(table, key, where, (float, str), required=False, default=1.0)
        if isinstance(bio, str):
            param_ref(bio, f"{where}.{key}", "dimensionless")
        elif not 0 <= bio <= 1:
            raise r.fail(f"{where}.{key}", f"must be within [0, 1], got {bio}")
        return bio

    routes = {}
    for rname, rdef, where in r.tables(
        r.get(data, "routes", "", dict),
        "routes",
        {
            "description",
            "allows_duration",
            "pathways",
            "hold",
            "sprays",
            "label",
            "product_step_mg",
            "words",
        },
    ):
        pathways = []
        n_rest = 0
        for _, p, pw in r.tables(
            r.get(rdef, "pathways", where, list),
            f"{where}.pathways",
            {
                "name",
                "target",
                "fraction",
                "bioavailability",
                "lag",
                "input",
                "duration",
                "description",
            },
        ):
            tgt = target(r.get(p, "target", pw, str), f"{pw}.target")
            fraction = r.get(p, "fraction", pw, (float, str))
            if fraction == "rest":
                fraction = None
                n_rest += 1
            elif isinstance(fraction, str):
                param_ref(fraction, f"{pw}.fraction", "dimensionless")
            elif not 0 <= fraction <= 1:
                raise r.fail(f"{pw}.fraction", f"must be within [0, 1], got {fraction}")
            bio = bioavailability(p, "bioavailability", pw)
            lag = r.get(p, "lag", pw, (float, str), required=False, default=0.0)
            if isinstance(lag, str):
                param_ref(lag, f"{pw}.lag", "time")
            elif lag < 0:
                raise r.fail(f"{pw}.lag", f"must be >= 0, got {lag}")
            kind = r.one_of(
                p, "input", pw, PATHWAY_INPUTS, "input", required=False, default="bolus"
            )
            duration = r.get(p, "duration", pw, (float, str), required=kind == "zero_order")
            if isinstance(duration, str):
                param_ref(duration, f"{pw}.duration", "time")
            elif duration is not None and duration <= 0:
                raise r.fail(f"{pw}.duration", f"must be > 0, got {duration}")
            pathways.append(
                Pathway(r.get(p, "name", pw, str), tgt, fraction, bio, lag, kind, duration)
            )
        if not pathways:
            raise r.fail(f"{where}.pathways", "at least one pathway is required")
        if n_rest > 1:
            raise r.fail(f"{where}.pathways", 'at most one pathway may take fraction = "rest"')
        hold = None
        if "hold" in rdef:
            hold = _read_hold(
                r,
                r.get(rdef, "hold", where, dict),
                f"{where}.hold",
                target,
                transfers,
                param_ref,
                bioavailability,
            )
            if not any(
                p.target == hold.compartment and p.input == "bolus" and p.lag == 0.0
                for p in pathways
            ):
                raise r.fail(
                    f"{where}.hold", f"no bolus pathway without lag enters {hold.compartment!r}"
                )
        sprays = None
        if "sprays" in rdef:
            sw = f"{where}.sprays"
            raw = r.get(rdef, "sprays", where, dict)
            r.check_keys(raw, {"interval", "pathway", "later_factor"}, sw)
            which = r.get(raw, "pathway", sw, str)
            if (
                which not in [p.name for p in pathways]
                or next(p for p in pathways if p.name == which).fraction is None
            ):
                raise r.fail(
                    f"{sw}.pathway",
                    f"{which!r} is not a pathway of {rname!r} with its own fraction",
                )
            sprays = Sprays(
                param_ref(r.get(raw, "interval", sw, str), f"{sw}.interval", "time"),
                which,
                bioavailability(raw, "later_factor", sw),
            )
        step = r.get(rdef, "product_step_mg", where, float, required=False)
        if step is not None and not 0 < step <= 1000:
            raise r.fail(f"{where}.product_step_mg", f"must be within (0, 1000], got {step}")
        words = tuple(r.get(rdef, "words", where, list, required=False, default=[]))
        if not all(isinstance(w, str) and w.isalpha() for w in words):
            raise r.fail(f"{where}.words", f"expected a list of words (letters only), got {words}")
        routes[rname] = Route(
            rname,
            r.get(rdef, "description", where, str),
            r.get(rdef, "allows_duration", where, bool, required=False, default=False),
            tuple(pathways),
            hold,
            sprays,
            r.get(rdef, "label", where, str, required=False),
            step,
            words,
        )
    if not routes:
        raise r.fail("routes", "at least one route is required")
    return routes
