"""Test-session setup: strict numerics and one kernel warm-up for the whole session."""

from __future__ import annotations

import os

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


@pytest.fixture
def bare_main(monkeypatch):
    """A ``__main__`` without a file, as a real CLI run has.

    Spawned worker processes re-import ``__main__`` by path; after the app's AppTest tests that
    is app.py, which must not run in a worker.
    """
    import sys

    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", None, raising=False)
    monkeypatch.delattr(main, "__file__", raising=False)
