"""The body plan of a model file: compartments, first-order transfers and transit chains.

Checked here so that every compartment a route or a hold names exists, and every compartment
drains to the sink (drug cannot accumulate forever).
"""

from __future__ import annotations

from pksim.model.reader import TableReader
from pksim.model.schema import COMPARTMENT_KINDS, SINK, Compartment, Transfer, TransitChain


def read_compartments(r: TableReader, data: dict, param_ref) -> list[Compartment]:
    comps = []
    raw = r.get(data, "compartments", "", list)
    for _, c, where in r.tables(raw, "compartments", {"name", "kind", "volume", "description"}):
        name = r.get(c, "name", where, str)
        kind = r.one_of(c, "kind", where, COMPARTMENT_KINDS, "kind")
        vol = r.get(c, "volume", where, str, required=kind in ("central", "liver"))
        if vol is not None:
            param_ref(vol, f"{where}.volume", "volume")
        if name in (SINK, "effect_site") or name in [x.name for x in comps]:
            raise r.fail(f"{where}.name", f"{name!r} is reserved or used twice")
        comps.append(Compartment(name, kind, vol))
    if not comps:
        raise r.fail("compartments", "at least one compartment is required")
    return comps


def read_transfers(
    r: TableReader, data: dict, names: list[str], comps: list[Compartment], param_ref
) -> list[Transfer]:
    out = []
    volume_of = {c.name: c.volume for c in comps}
    for _, t, where in r.tables(
        r.get(data, "transfers", "", list), "transfers", {"from", "to", "rate", "clearance"}
    ):
        src = r.get(t, "from", where, str)
        dst = r.get(t, "to", where, str)
        if src not in names:
            raise r.fail(f"{where}.from", f"unknown compartment {src!r}; known: {', '.join(names)}")
        if dst not in names and dst != SINK:
            raise r.fail(
                f"{where}.to", f"unknown compartment {dst!r}; known: {', '.join(names + [SINK])}"
            )
        rate = r.get(t, "rate", where, str, required=False)
        clearance = r.get(t, "clearance", where, str, required=False)
        if (rate is None) == (clearance is None):
            raise r.fail(where, "give exactly one of 'rate' (1/min) or 'clearance' (L/min)")
        if rate is not None:
            param_ref(rate, f"{where}.rate", "rate")
        else:
            param_ref(clearance, f"{where}.clearance", "clearance")
            if volume_of[src] is None:
                raise r.fail(
                    f"{where}.clearance",
                    f"compartment {src!r} has no volume, so a clearance "
                    "cannot be turned into a rate; use 'rate'",
                )
        out.append(Transfer(src, dst, rate, clearance))
    return out


def check_all_drain(r: TableReader, names: list[str], transfers: list[Transfer]) -> None:
    """Every compartment must reach the sink, or drug would accumulate forever."""
    reaches = {SINK}
    changed = True
    while changed:
        changed = False
        for t in transfers:
            if t.target in reaches and t.source not in reaches:
                reaches.add(t.source)
                changed = True
    stuck = [n for n in names if n not in reaches]
    if stuck:
        raise r.fail("transfers", f"compartment(s) {', '.join(stuck)} never reach '{SINK}'")


def read_transit_chains(
    r: TableReader, data: dict, names: list[str], param_ref
) -> list[TransitChain]:
    chains = []
    for _, c, where in r.tables(
        r.get(data, "transit_chains", "", list, required=False, default=[]),
        "transit_chains",
        {"name", "n", "mean_transit_time", "to", "description"},
    ):
        name = r.get(c, "name", where, str)
        n = r.get(c, "n", where, int)
        if not 1 <= n <= 20:
            raise r.fail(f"{where}.n", f"must be an integer within [1, 20], got {n}")
        mtt = param_ref(
            r.get(c, "mean_transit_time", where, str), f"{where}.mean_transit_time", "time"
        )
        chain = TransitChain(
            name,
            n,
            mtt,
            r.get(c, "to", where, str),
            r.get(c, "description", where, str, required=False) or "",
        )
        taken = (
            set(names)
            | {SINK, "effect_site"}
            | {x for ch in chains for x in (ch.name, *ch.compartments)}
        )
        if name in taken or set(chain.compartments) & taken:
            raise r.fail(
                f"{where}.name", f"{name!r} (or its compartments) is reserved or used twice"
            )
        chains.append(chain)
    return chains


def chain_transfers(r: TableReader, chains: list[TransitChain], names: list[str]) -> list[Transfer]:
    out = []
    for i, ch in enumerate(chains):
        if ch.target not in names:
            raise r.fail(f"transit_chains[{i}].to", f"unknown compartment {ch.target!r}")
        steps = ch.compartments + (ch.target,)
        for a, b in zip(steps[:-1], steps[1:], strict=True):
            out.append(Transfer(a, b, None, None, ch.mean_transit_time, ch.n))
    return out
