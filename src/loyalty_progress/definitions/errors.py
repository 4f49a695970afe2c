"""Definition errors name the file, the definition and the field."""

from __future__ import annotations


class DefinitionError(ValueError):
    def __init__(self, source: str, code: str | None, field: str | None, problem: str) -> None:
        self.source, self.code, self.field, self.problem = source, code, field, problem
        where = source
        if code:
            where += f": definition `{code}`"
        if field:
            where += f": field `{field}`"
        super().__init__(f"{where}: {problem}")
