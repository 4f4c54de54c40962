"""The README's first command: the demo converges on a fresh directory, and again on reuse."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fleet.runtime.demo import run_demo, setup_demo

pytestmark = pytest.mark.anyio


async def test_demo_converges_and_resumes(tmp_path: Path) -> None:
    setup = setup_demo(tmp_path / "demo", port=0)
    out = io.StringIO()
    assert await run_demo(setup, once=True, patience=120.0, out=out) == 0
    text = out.getvalue()
    # The dashboard's address is printed before the clusters converge (issue 13).
    assert f"dashboard: http://{setup.settings.api_address}/" in text
    final = text.strip().splitlines()[-3:]
    assert [line.split()[0] for line in final] == ["dev", "prod", "staging"]
    assert all("Synced" in line and "Healthy" in line for line in final)

    # The seed repository is a real Git repository users can commit to.
    assert (setup.repo / ".git").is_dir()
    assert (setup.repo / "apps/web/overlays/prod/deployment-patch.yaml").is_file()

    # A second run reuses the repository and the history, and converges again.
    again = setup_demo(tmp_path / "demo", port=0)
    assert again.repo == setup.repo
    out = io.StringIO()
    assert await run_demo(again, once=True, patience=120.0, out=out) == 0
    settings = (tmp_path / "demo" / "settings.yaml").read_text()
    assert "api_token_file" in settings
    history = tmp_path / "demo" / "state"
    assert any(history.iterdir())
    json.dumps(out.getvalue())
