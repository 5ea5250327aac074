"""Test-session setup: strict numerics and one kernel warm-up for the whole session."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

from hypothesis import settings  # noqa: E402

settings.register_profile("pksim", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("pksim")


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels():
    """Compile / load the Numba kernels once, not in whichever test happens to run first."""
    from pksim.warm import warm_all

    with np.errstate(all="raise"):
        warm_all()


_MAIN_MODULE = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Put back the session's own ``__main__`` module after every test.

    Streamlit's script runner (AppTest, also in module-scoped fixtures) installs the app as
    ``sys.modules["__main__"]`` and leaves it there; worker processes started later by spawn
    re-import ``__main__`` by path and would run app.py. A real CLI run has its own main module.
    """
    yield
    sys.modules["__main__"] = _MAIN_MODULE
