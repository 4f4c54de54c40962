"""The edit temp file: memory-backed when the host has one, said out loud when not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleet.adapters.secrets import edit, files


def test_private_temp_dir_prefers_xdg_runtime_dir(tmp_path: Path) -> None:
    assert files.private_temp_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path
    fallback = files.private_temp_dir({"XDG_RUNTIME_DIR": str(tmp_path / "missing")})
    assert fallback in (Path("/dev/shm"), None)


def test_without_a_memory_backed_dir_the_user_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edit, "private_temp_dir", lambda env: None)
    monkeypatch.setattr(edit.tempfile, "tempdir", str(tmp_path))
    script = tmp_path / "touch.py"
    script.write_text("import sys\nopen(sys.argv[1], 'ab').write(b'x: 2\\n')\n")
    notices: list[str] = []
    edited = edit._edit_in_private(
        b"x: 1\n", ".yaml", {"EDITOR": f"{sys.executable} {script}"}, notices.append
    )
    assert edited == b"x: 1\nx: 2\n"
    assert len(notices) == 1
    assert "no memory-backed temp directory" in notices[0]
    assert str(tmp_path) in notices[0]
    assert [p.name for p in tmp_path.iterdir()] == ["touch.py"]  # the temp file is gone


def test_shred_overwrites_then_removes(tmp_path: Path) -> None:
    target = tmp_path / "plain"
    target.write_bytes(b"secret")
    files.shred(target)
    assert not target.exists()
    files.shred(target)  # already gone: no error
