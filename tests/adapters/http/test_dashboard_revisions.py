"""Chart revisions (``chart@version@sha256:...``, with ``~source@commit`` for valuesFrom)
are shown in their short form on the Fleet, App and History pages, as the CLI shows them."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.adapters.http.dashfake import matrix_cells, serve_dashboard
from tests.cli.fakedaemon import sync_record

pytestmark = pytest.mark.anyio

DIGEST = "sha256:" + "5d" * 32
CHART = f"web@1.2.0@{DIGEST}"
WITH_VALUES = f"web@1.3.0@{DIGEST}~values@{'9b41e7aa' + '1' * 32}"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(page: str) -> str:
    """What a reader sees: the text between tags (attributes, titles left out)."""
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


async def test_chart_revisions_are_shown_short(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        fake = browser.fake
        for row in fake.statuses:
            if row["app"] == "web" and row["cluster"] == "prod":
                row["revision"] = row["target_revision"] = CHART
            elif row["app"] == "web" and row["cluster"] == "dev":
                row["revision"] = row["target_revision"] = WITH_VALUES
        fake.commits[CHART] = {"sha": CHART, "summary": f"chart web 1.2.0 from here ({DIGEST})"}
        fake.add_sync(sync_record(9, "web", "prod", revision=CHART))
        fake.add_sync(sync_record(10, "web", "dev", revision=WITH_VALUES))
        _, fleet, _ = await browser.get("/")
        _, app, _ = await browser.get("/apps/web")
        _, history, _ = await browser.get("/history")

    shown = matrix_cells(fleet)
    assert shown[("web", "prod")]["data-revision"] == "web@1.2.0"
    assert shown[("web", "dev")]["data-revision"] == "web@1.3.0~values@9b41e7a"
    # A chart has no commit subject to hover (its fetch message repeats the digest).
    assert "title" not in shown[("web", "prod")]
    assert shown[("web", "staging")]["title"] == "Scale web down"  # a Git commit's subject
    assert "sha256" not in fleet
    for page in (fleet, app, history):
        text = visible_text(page)
        assert "web@1.2.0" in text
        assert "web@1.3.0~values@9b41e7a" in text
        assert "sha256" not in text  # no digest, whole or cut
        assert "5d5d5d" not in text
