"""The not-dosing-advice notice: one text that every output, page, report and figure carries.

Its own module so that light front ends (the CLI parser, the app shell, plots) can show it
without importing the numerical core.
"""

NOTICE = "Research and teaching tool - not dosing advice."
