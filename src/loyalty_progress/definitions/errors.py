"""Definition errors name the file, the definition and the field."""

from __future__ import annotations

from typing import Final

from loyalty_progress.safe_text import shortened

# A problem quotes the offending value; a whole file's worth of it helps nobody.
MAX_PROBLEM: Final = 500


class DefinitionError(ValueError):
    def __init__(self, source: str, code: str | None, field: str | None, problem: str) -> None:
        problem = shortened(problem, MAX_PROBLEM)
        code = None if code is None else shortened(code, 130)
        self.source, self.code, self.field, self.problem = source, code, field, problem
        where = source
        if code:
            where += f": definition `{code}`"
        if field:
            where += f": field `{field}`"
        super().__init__(f"{where}: {problem}")
