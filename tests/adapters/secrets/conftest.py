"""Real age keys made by pyrage for each test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str
    key_file: Path


@pytest.fixture
def make_key(tmp_path: Path) -> Callable[[str], AgeKey]:
    def make(name: str) -> AgeKey:
        identity = pyrage.x25519.Identity.generate()
        key_file = tmp_path / f"{name}.agekey"
        key_file.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
        return AgeKey(str(identity), str(identity.to_public()), key_file)

    return make


@pytest.fixture
def key(make_key: Callable[[str], AgeKey]) -> AgeKey:
    return make_key("main")
