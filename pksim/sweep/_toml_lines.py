"""Line numbers of keys in a TOML text, so sweep-file errors can name the file line.

:mod:`tomllib` parses values but forgets where they were. This scanner walks the same text and
records, for every key path it meets (``("grid", "dose", 1, "amount_mg", 2)`` — array-of-tables
and array elements by 0-based index), the line where it starts. It only looks at structure
(headers, keys, brackets, strings, comments); the values themselves come from :mod:`tomllib`,
which has already accepted the text, so the scanner can be lenient.
"""

from __future__ import annotations

Path = tuple[str | int, ...]

_BARE_END = set(" \t=.]\n\r#,}")


class KeyLines:
    """``path -> line`` (1-based) for a TOML text; :meth:`line` falls back to the longest prefix."""

    def __init__(self, text: str):
        self.text = text
        self.lines: dict[Path, int] = {}
        self._i = 0
        self._line = 1
        self._aot: dict[Path, int] = {}  # array-of-tables path -> current index
        try:
            self._scan()
        except IndexError:  # pragma: no cover - tomllib accepted the text; be lenient anyway
            pass

    def line(self, path: Path) -> int | None:
        """Line of ``path`` or of its longest recorded prefix (``None`` if nothing matches)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    # ------------------------------------------------------------------ scanner

    def _peek(self, k: int = 0) -> str:
        j = self._i + k
        return self.text[j] if j < len(self.text) else ""

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self._i < len(self.text):
                if self.text[self._i] == "\n":
                    self._line += 1
                self._i += 1

    def _record(self, path: Path) -> None:
        self.lines.setdefault(path, self._line)

    def _skip_space(self, newlines: bool) -> None:
        while self._i < len(self.text):
            c = self.text[self._i]
            if c in " \t\r" or (newlines and c == "\n"):
                self._advance()
            elif c == "#":
                while self._i < len(self.text) and self.text[self._i] != "\n":
                    self._i += 1
            else:
                return

    def _scan(self) -> None:
        table: Path = ()
        while self._i < len(self.text):
            self._skip_space(newlines=True)
            if self._i >= len(self.text):
                return
            if self._peek() == "[" and self._peek(1) == "[":
                self._advance(2)
                keys = self._dotted_key("]")
                self._advance(2)
                parent = self._resolve(keys[:-1])
                aot = parent + (keys[-1],)
                index = self._aot.get(aot, -1) + 1
                self._aot[aot] = index
                # forget the previous element's sub-arrays of tables
                for k in [k for k in self._aot if len(k) > len(aot) and k[: len(aot)] == aot]:
                    del self._aot[k]
                self._record(aot)
                table = aot + (index,)
                self._record(table)
            elif self._peek() == "[":
                self._advance()
                keys = self._dotted_key("]")
                self._advance()
                table = self._resolve(keys)
                self._record(table)
            else:
                self._key_value(table)

    def _key_value(self, base: Path) -> None:
        """``key = value`` in a table or an inline table at ``base``; records every prefix."""
        path = base + tuple(self._dotted_key("="))
        for j in range(len(base) + 1, len(path) + 1):
            self._record(path[:j])
        self._skip_space(newlines=False)
        self._advance()  # "="
        self._value(path)

    def _resolve(self, keys: list[str]) -> Path:
        path: Path = ()
        for k in keys:
            path = path + (k,)
            if path in self._aot:
                path = path + (self._aot[path],)
        return path

    def _dotted_key(self, stop: str) -> list[str]:
        keys = []
        while True:
            self._skip_space(newlines=False)
            c = self._peek()
            if c in ('"', "'"):
                keys.append(self._string())
            else:
                start = self._i
                while self._i < len(self.text) and self.text[self._i] not in _BARE_END:
                    self._i += 1
                keys.append(self.text[start : self._i])
            self._skip_space(newlines=False)
            if self._peek() == ".":
                self._advance()
                continue
            if self._peek() in (stop, ""):
                return keys
            return keys  # lenient

    def _string(self) -> str:
        quote = self._peek()
        if self._peek(1) == quote and self._peek(2) == quote:  # multi-line
            self._advance(3)
            start = self._i
            while self._i < len(self.text):
                if quote == '"' and self._peek() == "\\":
                    self._advance(2)
                    continue
                if self._peek() == quote and self._peek(1) == quote and self._peek(2) == quote:
                    # up to two extra quotes may belong to the content
                    while self._peek(3) == quote:
                        self._advance()
                    text = self.text[start : self._i]
                    self._advance(3)
                    return text
                self._advance()
            return self.text[start:]
        self._advance()
        start = self._i
        while self._i < len(self.text) and self._peek() != quote and self._peek() != "\n":
            if quote == '"' and self._peek() == "\\":
                self._advance()
            self._advance()
        text = self.text[start : self._i]
        self._advance()
        return text

    def _value(self, path: Path) -> None:
        self._skip_space(newlines=False)
        c = self._peek()
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self._advance()
            k = 0
            while True:
                self._skip_space(newlines=True)
                if self._peek() in ("]", ""):
                    self._advance()
                    return
                self._record(path + (k,))
                self._value(path + (k,))
                k += 1
                self._skip_space(newlines=True)
                if self._peek() == ",":
                    self._advance()
        elif c == "{":
            self._advance()
            while True:
                self._skip_space(newlines=True)
                if self._peek() in ("}", ""):
                    self._advance()
                    return
                self._key_value(path)
                self._skip_space(newlines=True)
                if self._peek() == ",":
                    self._advance()
        else:
            while self._i < len(self.text) and self.text[self._i] not in ",]}\n#":
                self._i += 1
