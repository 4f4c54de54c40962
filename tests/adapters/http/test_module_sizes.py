"""The HTTP adapter's modules stay under 500 lines (the project's limit): the route
table grows with every feature, and a module past it is split, not stretched."""

from __future__ import annotations

from pathlib import Path

import fleet.adapters.http

PACKAGE = Path(fleet.adapters.http.__file__).parent
LIMIT = 500


def test_every_http_module_is_under_the_limit() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert "server.py" in sizes
    assert {name: n for name, n in sizes.items() if n >= LIMIT} == {}
