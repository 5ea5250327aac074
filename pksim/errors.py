"""Error types that front ends turn into one-line messages (exit status 2, no traceback)."""

from __future__ import annotations


class PksimError(Exception):
    """Base class for every error pksim raises on purpose."""


class InputError(PksimError, ValueError):
    """A user-supplied value is out of range or malformed.

    The message always names the field and the allowed values, so the CLI and the app
    can show it verbatim.
    """

    def __init__(self, field: str, problem: str, allowed: str | None = None):
        self.field = field
        self.problem = problem
        self.allowed = allowed
        text = f"{field}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)

    def __reduce__(self):  # picklable, so an error raised in a worker process reaches the caller
        return (type(self), (self.field, self.problem, self.allowed))


class ModelFileError(PksimError, ValueError):
    """A model file is malformed; the message names the file, the field and the problem."""

    def __init__(self, path: str, field: str, problem: str):
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.field, self.problem))


class ConsistencyError(PksimError, RuntimeError):
    """An internal cross-check failed (two computations of the same quantity disagree).

    Not the user's input: the message says what is inconsistent and what to do (typically,
    clear a stale Numba cache).
    """
