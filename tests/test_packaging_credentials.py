"""The unit's commented ``LoadCredential=`` example for age keys verifies once enabled."""

from __future__ import annotations

from pathlib import Path

from tests.test_packaging import UNIT, install_root, needs_systemd_analyze, verify


def test_the_unit_shows_age_keys_as_credentials() -> None:
    lines = UNIT.read_text().splitlines()
    examples = [line for line in lines if line.startswith("#LoadCredential=age-")]
    assert examples, "no commented LoadCredential= example for age keys"
    assert any("${CREDENTIALS_DIRECTORY}/age-{cluster.labels.env}.txt" in line for line in lines)


@needs_systemd_analyze
def test_the_credentials_example_verifies_when_enabled(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("#LoadCredential=", "LoadCredential=")
    result = verify(install_root(tmp_path, text))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")
