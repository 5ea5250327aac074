"""End to end: ``streamlit run app.py`` on 127.0.0.1, driven by Debian's Chromium through
Playwright. Opens every page (screenshot of each in ``screenshots/``), changes partner A's dose on
the couple planner and checks the page shows the library's new numbers, then runs eight sessions
at once against the same server.

Skipped only when Chromium is missing (``PKSIM_CHROMIUM`` overrides ``/usr/bin/chromium``); CI
installs it.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from pksim_app import serve

ROOT = Path(__file__).resolve().parents[2]

SHOTS = ROOT / "screenshots"
CHART = serve.CHART
# page name -> (URL path, an element that shows the page has rendered its content)
PAGES = {
    "couple": ("", CHART),
    "plan": ("plan", "h1"),
    "routes": ("routes", CHART),
    "sweep": ("sweep", "[data-testid=stForm]"),
    "models": ("models", "[data-testid=stTable]"),
}
RUN_TIMEOUT_MS = 120_000
RESULTS_A = ".st-key-results_a [data-testid=stTable] tbody tr"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(serve.CHROMIUM).is_file(),
        reason=f"no Chromium at {serve.CHROMIUM} (apt-get install chromium; CI does)",
    ),
]


@pytest.fixture(scope="module")
def server():
    # conftest.py has warmed every kernel into Numba's on-disk cache: the server loads them.
    SHOTS.mkdir(exist_ok=True)
    with open(SHOTS / "streamlit.log", "w") as log:
        try:
            proc, url = serve.start(log)
        except RuntimeError:
            pytest.fail(f"streamlit did not start (see {SHOTS / 'streamlit.log'})")
        yield url, proc
        serve.stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = serve.browser(p)
        yield b
        b.close()


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the script run of this session has finished."""
    page.wait_for_function(serve.IDLE, timeout=timeout_ms)


def open_page(page, url: str, path: str, content: str = "h1") -> None:
    """Open a page and wait for its run to end and ``content`` (a selector) to be rendered:
    tables and charts are loaded lazily after the run."""
    page.goto(f"{url}/{path}")
    page.wait_for_selector("h1", timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    page.wait_for_selector(content, timeout=RUN_TIMEOUT_MS)


def no_exception(page) -> None:
    errors = page.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.first.inner_text()
    assert "not dosing advice" in page.locator("[data-testid=stAlert]").first.inner_text()


def screenshot(page, name: str, width: int = 1400, height: int = 1000) -> Path:
    """The whole page at ``width`` (Streamlit scrolls inside its main block, so grow the
    viewport), then back to ``width`` x ``height``."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_timeout(500)
    full = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]');"
        " return m ? m.scrollHeight : 1200; }"
    )
    page.set_viewport_size({"width": width, "height": min(int(full) + 40, 16000)})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": height})
    return path


def chart_widths(page) -> list[float]:
    return page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]"
        " canvas, [data-testid=stVegaLiteChart] svg')]"
        ".map(c => c.getBoundingClientRect().width)"
    )


def partner_numbers(page, key: str) -> dict[str, str]:
    """Partner ``key``'s metrics (label -> value) and timing table (row -> typical person)."""
    return page.evaluate(
        """(key) => {
            const root = document.querySelector('.st-key-results_' + key);
            const out = {};
            for (const m of root.querySelectorAll('[data-testid=stMetric]')) {
                const label = m.querySelector('[data-testid=stMetricLabel]').innerText.trim();
                out[label] = m.querySelector('[data-testid=stMetricValue]').innerText.trim();
            }
            for (const tr of root.querySelectorAll('[data-testid=stTable] tbody tr')) {
                const cells = [...tr.querySelectorAll('th, td')].map(c => c.innerText.trim());
                out['typical: ' + cells[0]] = cells[1];
            }
            return out;
        }""",
        key,
    )


def test_every_page_opens_and_is_screenshotted(server, browser):
    """Each page at 1400 x 1000 and at 390 x 844 (a phone); charts reflow to the width."""
    url, proc = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for name, (path, content) in PAGES.items():
        open_page(page, url, path, content)
        no_exception(page)
        assert screenshot(page, name).stat().st_size > 10_000
        wide = chart_widths(page)
        assert screenshot(page, f"{name}_mobile", 390, 844).stat().st_size > 10_000
        narrow = chart_widths(page)
        assert all(w <= 390 for w in narrow), narrow  # reflowed after the resize
        no_exception(page)
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.wait_for_timeout(800)
        assert chart_widths(page) == pytest.approx(wide, abs=2)  # and back
    assert proc.poll() is None
    page.close()


def test_changing_partner_a_dose_changes_the_numbers(server, browser):
    from pksim.analysis import curve_summary
    from pksim.model import load_model
    from pksim.simulation import simulate
    from pksim_app import fmt
    from pksim_app.widgets import DEFAULT_N, DEFAULT_SEED

    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_page(page, url, "", RESULTS_A)
    before = partner_numbers(page, "a")
    dose = page.locator(".st-key-a_d1_amount_mg input")
    assert dose.input_value() == "100"
    dose.fill("180")
    dose.press("Enter")
    page.wait_for_function(
        """(old) => { const m = document.querySelector('.st-key-results_a [data-testid=stTable]');
                      return m && !m.innerText.includes(old); }""",
        arg=before["typical: Effect-site peak"],
        timeout=RUN_TIMEOUT_MS,
    )
    wait_idle(page)
    no_exception(page)
    after = partner_numbers(page, "a")
    model = load_model("ketamine")
    typical = curve_summary(simulate(["sublingual:180mg"], weight_kg=82.0, sex="male", model=model))
    assert after["typical: Effect-site peak"] == fmt.conc(typical["effect_site"]["cmax_ng_per_ml"])
    assert after["typical: Onset: enters the window"] == fmt.minutes(typical["window"]["onset_min"])
    from pksim.couple import simulate_couple
    from pksim.sampling import Covariates

    res = simulate_couple(
        ["sublingual:180mg"],
        ["sublingual:75mg"],
        a=Covariates(weight_kg=82.0, sex="male"),
        b=Covariates(weight_kg=64.0, sex="female"),
        n=DEFAULT_N,
        seed=DEFAULT_SEED,
        model=model,
        block_min=(45.0, 90.0),
        band_uncertainty=True,
    )  # the app draws band edges by default
    expected = res.a.summary()["p_dissociation"]
    assert after["P(dissociation)"] == fmt.percent(expected)
    assert float(after["P(dissociation)"].split()[0]) > float(before["P(dissociation)"].split()[0])
    # partner B's inputs did not change, nor did B's numbers
    assert partner_numbers(page, "b")["P(window)"] == fmt.percent(res.b.summary()["p_window"])
    screenshot(page, "couple_after_dose_change")
    page.close()


def test_eight_sessions_at_once(server, browser):
    url, proc = server
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pages = [context.new_page() for _ in range(8)]
    for p in pages:
        p.goto(url, wait_until="commit")
    for p in pages:
        p.wait_for_selector("h1", timeout=RUN_TIMEOUT_MS)
        wait_idle(p)
        p.wait_for_selector(RESULTS_A, timeout=RUN_TIMEOUT_MS)
    default_peak = partner_numbers(pages[0], "a")["typical: Effect-site peak"]
    # distinct doses, so that eight different populations are simulated at the same time
    for i, p in enumerate(pages):
        box = p.locator(".st-key-a_d1_amount_mg input")
        box.fill(str(105 + 5 * i))
    t0 = time.monotonic()
    for p in pages:
        p.locator(".st-key-a_d1_amount_mg input").press("Enter")
    for p in pages:
        p.wait_for_function(
            """(old) => {
                const t = document.querySelector('.st-key-results_a [data-testid=stTable]');
                return t && !t.innerText.includes(old); }""",
            arg=default_peak,
            timeout=RUN_TIMEOUT_MS,
        )
        wait_idle(p)
        no_exception(p)
        assert p.locator(".st-key-results_a [data-testid=stMetric]").count() >= 1
    elapsed = time.monotonic() - t0
    assert proc.poll() is None, "the server died under eight concurrent sessions"
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
        assert r.status == 200
    print(f"eight concurrent reruns finished in {elapsed:.1f} s")
    context.close()


def test_a_copied_url_reopens_the_same_scenario_in_a_fresh_browser(server, browser):
    """Change inputs on the couple planner and the route explorer, copy the address bar, open it
    in a new browser context (no shared session or storage): the same inputs and numbers."""
    url, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    open_page(page, url, "", RESULTS_A)
    for key, value in (("a_weight", "91"), ("a_d1_amount_mg", "120")):
        box = page.locator(f".st-key-{key} input")
        box.fill(value)
        box.press("Enter")
        page.wait_for_function(
            "([k, v]) => new URLSearchParams(location.search).get(k) === v",
            arg=[key, value],
            timeout=RUN_TIMEOUT_MS,
        )
    wait_idle(page)
    copied = page.url
    shown = partner_numbers(page, "a")
    ctx.close()
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = fresh.new_page()
    page.goto(copied)
    page.wait_for_selector(RESULTS_A, timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    no_exception(page)
    assert page.locator(".st-key-a_weight input").input_value() == "91"
    assert page.locator(".st-key-a_d1_amount_mg input").input_value() == "120"
    assert partner_numbers(page, "a") == shown
    assert page.url == copied
    fresh.close()

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    open_page(page, url, "routes", PAGES["routes"][1])
    box = page.locator(".st-key-rt_weight input")
    box.fill("57")
    box.press("Enter")
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('rt_weight') === '57'",
        timeout=RUN_TIMEOUT_MS,
    )
    copied = page.url
    ctx.close()
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = fresh.new_page()
    page.goto(copied)
    page.wait_for_selector(PAGES["routes"][1], timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    no_exception(page)
    assert "/routes" in page.url
    assert page.locator(".st-key-rt_weight input").input_value() == "57"
    fresh.close()


def test_sweep_results_are_screenshotted(server, browser):
    """A small population sweep run in the page: heatmap on a fixed 0-100 % scale, table."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_page(page, url, "sweep", PAGES["sweep"][1])
    page.get_by_text("Population", exact=True).click()
    box = page.locator(".st-key-sw_n input")
    box.fill("100")
    page.get_by_role("button", name="Run sweep").click()
    page.wait_for_selector(CHART, timeout=RUN_TIMEOUT_MS)
    wait_idle(page)
    no_exception(page)
    assert page.locator("[data-testid=stDataFrame]").count() == 1
    screenshot(page, "sweep_results")
    screenshot(page, "sweep_results_mobile", 390, 844)
    page.close()
