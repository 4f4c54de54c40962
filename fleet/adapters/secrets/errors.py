"""The one error every secrets failure raises."""

from __future__ import annotations


class SopsError(ValueError):
    """A SOPS file could not be read, decrypted or verified; the message names the file."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
