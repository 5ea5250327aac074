"""pksim's Streamlit front end (``streamlit run app.py``).

Layout
------
``app.py`` (entry: page config, kernel warm-up, sidebar settings, ``st.navigation``) runs one of
the page scripts in :mod:`pksim_app.pages`. Shared pieces:

* :mod:`pksim_app.backend` — the only place the app calls the pksim library (no Streamlit);
  it also detects optional library modules (populations, couples, validation, sweeps) so that
  pages degrade with a message instead of a traceback until those land.
* :mod:`pksim_app.cache` — ``st.cache_resource`` / ``st.cache_data`` wrappers around the backend.
* :mod:`pksim_app.frames` — reshaping library results into chart and table frames (no PK maths).
* :mod:`pksim_app.charts` — pure chart builders: DataFrame in, Altair chart or matplotlib
  ``Figure`` out.
* :mod:`pksim_app.export` — provenance and CSV / Parquet / PNG bytes for downloads.
* :mod:`pksim_app.widgets` — Streamlit widgets shared by the pages (notice, dose inputs,
  validity warnings, downloads, session thresholds).

Nothing in :mod:`pksim` imports Streamlit; this package is the front-end layer.
"""

from __future__ import annotations

from pksim.notice import NOTICE  # the library's notice, shown and written as it is

NOTICE_LONG = (
    f"**{NOTICE}** pksim shows what published pharmacokinetic models predict for virtual "
    "people; it does not tell anyone what to give."
)
