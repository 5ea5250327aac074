"""App latency: first page ready after ``streamlit run``, and re-render after a changed input.

Run: ``python benchmarks/bench_app.py [--starts 3] [--changes 7] [--n 1000]``
(``pksim warmup`` first, so that Numba's on-disk cache is warm, as after the README's set-up.)

Measured in headless Chromium (Debian's ``/usr/bin/chromium`` driven by Playwright), the way a
user sees it:

* ``first page``: from starting ``streamlit run app.py`` to the couple planner (the default
  page) showing its numbers and charts — server start, kernel warm-up (loaded from the Numba
  cache), the first 1,000-couple simulation and the browser's rendering;
* ``re-render (new input)``: partner A's dose is changed to a value not seen before, so the
  couples (``--n`` per partner, default 1,000) are simulated again; timed from the Enter key to
  the page showing the new numbers with the script run finished;
* ``re-render (cached input)``: a dose seen before — no simulation, the app's own overhead;
* ``new session, first page``: a new tab (or a fresh browser profile) opens the running server;
* ``route explorer re-render``: a new amount on "Routes side by side" (a fragment rerun).

For scale, in the same run: the library calls alone — ``simulate_couple`` (what the couple
page runs) and ``simulate_population`` (one partner) with ``--n`` subjects — and the same page
re-run through ``streamlit.testing.v1.AppTest`` (server-side script time, no browser).
Medians (and the range) are printed with the core count and the load average, because other
processes compete for the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pksim_app import serve  # noqa: E402

READY = ".st-key-results_a [data-testid=stTable] tbody tr"
# Partner A's typical effect-site peak cell differs from ``old`` and the run has finished (the
# cell, not the whole table: a population percentile can show the same text as the old peak).
CHANGED = (
    "(old) => { const a = document.querySelector('[data-testid=stApp]');"
    " for (const tr of document.querySelectorAll("
    "     '.st-key-results_a [data-testid=stTable] tbody tr')) {"
    "   const c = [...tr.querySelectorAll('th, td')].map(x => x.innerText.trim());"
    "   if (c[0] === 'Effect-site peak') return c[1] !== old &&"
    "     a.getAttribute('data-test-script-state') === 'notRunning'; }"
    " return false; }"
)
TIMEOUT_MS = 180_000
BASELINE = "AppTest re-run, cached input (server side)"


def _peak(page) -> str:
    """Partner A's typical effect-site peak as shown (e.g. ``96.5 ng/mL``)."""
    text = page.evaluate(
        """() => {
            for (const tr of document.querySelectorAll(
                    '.st-key-results_a [data-testid=stTable] tbody tr')) {
                const cells = [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim());
                if (cells[0] === 'Effect-site peak') return cells[1];
            }
            return null; }"""
    )
    if not text:
        raise RuntimeError("partner A's effect-site peak is not on the page")
    return text


def _set_n(page, n: int) -> None:
    """Population size in the sidebar (setup, not timed)."""
    box = page.locator(".st-key-pop_n input")
    if box.input_value() != str(n):
        box.fill(str(n))
        box.press("Enter")
        page.wait_for_timeout(500)
        page.wait_for_function(serve.IDLE, timeout=TIMEOUT_MS)


def _fmt(values: list[float]) -> str:
    ms = [1000 * v for v in values]
    return (
        f"median {statistics.median(ms):7.0f} ms  (min {min(ms):.0f}, max {max(ms):.0f}, "
        f"n={len(ms)})"
    )


def bench_browser(starts: int, changes: int, n: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out = {
        "server up": [],
        "first page": [],
        "re-render (new input)": [],
        "re-render (cached input)": [],
    }
    with sync_playwright() as p:
        browser = serve.browser(p)
        for i in range(starts):
            t0 = time.perf_counter()
            proc, url = serve.start()
            try:
                out["server up"].append(time.perf_counter() - t0)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                _load(page, url)
                out["first page"].append(time.perf_counter() - t0)
                if i < starts - 1:
                    continue
                _set_n(page, n)
                dose = page.locator(".st-key-a_d1_amount_mg input")
                seen = []
                for k in range(changes + 1):
                    mg = 111 + 3 * k  # never simulated before in this server
                    old = _peak(page)
                    dose.fill(str(mg))
                    t1 = time.perf_counter()
                    dose.press("Enter")
                    page.wait_for_function(CHANGED, arg=old, timeout=TIMEOUT_MS)
                    if k:  # the first change also loads lazily rendered components
                        out["re-render (new input)"].append(time.perf_counter() - t1)
                    seen.append(mg)
                for mg in seen[1 : changes + 1]:
                    old = _peak(page)
                    dose.fill(str(mg))
                    t1 = time.perf_counter()
                    dose.press("Enter")
                    page.wait_for_function(CHANGED, arg=old, timeout=TIMEOUT_MS)
                    out["re-render (cached input)"].append(time.perf_counter() - t1)
                page.close()
                out.update(_new_sessions(browser, url, changes))
                out.update(_route_explorer(browser, url, changes))
            finally:
                serve.stop(proc)
        browser.close()
    return out


def _load(page, url: str) -> None:
    """Open the default page and wait for partner A's numbers, a chart and the run's end."""
    page.goto(url)
    page.wait_for_selector(READY, timeout=TIMEOUT_MS)
    page.wait_for_selector(serve.CHART, timeout=TIMEOUT_MS)
    page.wait_for_function(serve.IDLE, timeout=TIMEOUT_MS)


def _first_page(page, url: str) -> float:
    t0 = time.perf_counter()
    _load(page, url)
    return time.perf_counter() - t0


def _new_sessions(browser, url: str, repeats: int) -> dict[str, list[float]]:
    """New sessions on a running server (warm kernels, default inputs): a new tab of a browser
    that has seen the app (its HTTP cache holds Streamlit's scripts), and a fresh browser
    profile (every script chunk downloaded and compiled again)."""
    tabs, fresh = [], []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    _first_page(context.new_page(), url)  # the browser has seen the app once
    for _ in range(repeats):
        page = context.new_page()
        tabs.append(_first_page(page, url))
        page.close()
        cold = browser.new_context(viewport={"width": 1400, "height": 1000})
        fresh.append(_first_page(cold.new_page(), url))
        cold.close()
    context.close()
    return {
        "new session, first page (new tab)": tabs,
        "new session, first page (fresh browser profile)": fresh,
    }


def _route_explorer(browser, url: str, changes: int) -> dict[str, list[float]]:
    """Route explorer, "Routes side by side": a new amount (every route simulated again)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/routes")
    page.wait_for_selector(serve.CHART, timeout=TIMEOUT_MS)
    page.wait_for_function(serve.IDLE, timeout=TIMEOUT_MS)
    box = page.locator(".st-key-rt_routes_amount input")
    times = []
    for k in range(changes + 1):
        mg = 41 + 3 * k
        box.fill(str(mg))
        t1 = time.perf_counter()
        box.press("Enter")
        page.wait_for_function(
            "(v) => new URLSearchParams(location.search).get('rt_routes_amount') === v && "
            "document.querySelector('[data-testid=stApp]')"
            ".getAttribute('data-test-script-state') === 'notRunning'",
            arg=str(mg),
            timeout=TIMEOUT_MS,
        )
        if k:
            times.append(time.perf_counter() - t1)
    page.close()
    return {"route explorer re-render (new amount)": times}


def bench_library(n: int, repeats: int) -> dict[str, list[float]]:
    from pksim.couple import simulate_couple
    from pksim.model import load_model
    from pksim.population import simulate_population
    from pksim.sampling import Covariates

    model = load_model("ketamine")
    a, b = Covariates(weight_kg=82.0, sex="male"), Covariates(weight_kg=64.0, sex="female")
    simulate_couple(["sublingual:100mg"], ["sublingual:75mg"], a=a, b=b, n=n, seed=1, model=model)
    out = {f"library simulate_couple (n={n})": [], f"library simulate_population (n={n})": []}
    for k in range(repeats):
        t0 = time.perf_counter()
        simulate_couple(
            [f"sublingual:{101 + k}mg"], ["sublingual:75mg"], a=a, b=b, n=n, seed=1, model=model
        )
        out[f"library simulate_couple (n={n})"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        simulate_population([f"sublingual:{101 + k}mg"], covariates=a, n=n, seed=1, model=model)
        out[f"library simulate_population (n={n})"].append(time.perf_counter() - t0)
    return out


def bench_apptest(n: int, repeats: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["pop_n"] = n
    at.run()
    out = {
        "AppTest re-run, new input (server side)": [],
        "AppTest re-run, cached input (server side)": [],
    }
    for k in range(repeats):
        at.number_input(key="a_d1_amount_mg").set_value(151.0 + 2 * k)
        t0 = time.perf_counter()
        at.run()
        out["AppTest re-run, new input (server side)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        at.run()
        out["AppTest re-run, cached input (server side)"].append(time.perf_counter() - t0)
    assert not at.exception, [e.value for e in at.exception]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=3, help="server starts to time")
    ap.add_argument("--changes", type=int, default=7, help="input changes to time")
    ap.add_argument("--n", type=int, default=1000, help="subjects per partner")
    args = ap.parse_args(argv)

    from pksim.warm import warm_all

    warm_all()  # the README runs `pksim warmup` first: the server loads cached kernels
    load_before = os.getloadavg()
    results: dict[str, list[float]] = {}
    if Path(serve.CHROMIUM).is_file():
        results.update(bench_browser(args.starts, args.changes, args.n))
    else:
        print(f"no Chromium at {serve.CHROMIUM}: browser timings skipped")
    results.update(bench_library(args.n, args.changes))
    results.update(bench_apptest(args.n, args.changes))

    loads = " ".join(f"{x:.2f}" for x in (*load_before, *os.getloadavg()))
    print(
        f"pksim app latency — {os.cpu_count()} cores, load average (1, 5, 15 min) at start and "
        f"end {loads}, {args.n} subjects per partner"
    )
    base = statistics.median(results[BASELINE])
    width = max(len(k) for k in results)
    for name, values in results.items():
        if values:
            ratio = statistics.median(values) / base
            print(f"  {name:<{width}}  {_fmt(values)}  ({ratio:5.1f}× the baseline)")
    print(
        f"baseline: the median '{BASELINE}' of this run, timed on the same loaded machine.\n"
        "targets (issue 14): re-render < 300 ms on the route explorer and < 500 ms on the "
        "couple page at 1,000 people per partner; a new session's first page < 2 s with a "
        "warm kernel cache"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
