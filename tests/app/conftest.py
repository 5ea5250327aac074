"""Fixtures of the app's tests: ``pksim_app`` importable as ``streamlit run app.py`` sees it
(beside app.py), the model, and the couple planner run once on its defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # pksim_app lives beside app.py, like `streamlit run` sees it
    sys.path.insert(0, str(ROOT))

from app_session import assert_ok, new_app  # noqa: E402

from pksim.model import load_model  # noqa: E402


@pytest.fixture(scope="module")
def ketamine():
    return load_model("ketamine")


@pytest.fixture(scope="module")
def couple_app():
    """The couple planner on its defaults, run once for the tests that only read it."""
    at = new_app().run()
    assert_ok(at)
    return at
