"""Rotation without a Git change: host secret files and age keys watched by polling.

Every poll interval each app x cluster that reads host files (``secretRefs`` files, age
key files) has their identity and change time compared with the last look. When one
changed, the worker is told as after a config change: it renders again (the render of
an unchanged revision is reused only while the files stay the same, see
fleet.runtime.comparison) and an automated app syncs the new values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
from anyio import to_thread

from fleet.runtime.host_secrets import host_fingerprint

log = logging.getLogger(__name__)


async def watch_host_files(workers: Mapping[tuple[str, str], Any], every: float) -> None:
    """Poll forever (see the module docstring); ``workers`` is the daemon's live table of
    worker slots (changed in place on reloads). Cancelled with the daemon."""
    seen: dict[tuple[str, str], object] = {}
    while True:
        for key, slot in list(workers.items()):
            worker = slot.worker
            if worker.app.decryption is None and not worker.app.secret_refs:
                continue
            mark = await to_thread.run_sync(host_fingerprint, worker.app, worker.cluster)
            previous = seen.get(key)
            seen[key] = mark
            if previous is not None and previous != mark:
                log.info(
                    "app %s on %s: a host secret or key file changed; rendering again",
                    worker.app.name,
                    worker.cluster.name,
                )
                worker.resync.config_changed(worker.mailbox)
        await anyio.sleep(every)
