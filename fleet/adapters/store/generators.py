"""What each app generator made last, and its hold: kept so that a restart forgets nothing.

A generator's apps are not written in the config, so after a restart the daemon could
not tell that an app whose folder vanished while it was down was ever there: its
objects would stay on the clusters, unmanaged. One row per generator (the source
revision it was expanded at, its prune-guard hold and the apps that hold keeps) and one
row per generated app (its filled-in entry, as the config would have written it) let the
next start compare the new expansion with the last one, as a running daemon does.

The whole state is replaced in one transaction each time it changes: it is small (a
generator makes at most a few thousand apps) and never half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_json, decode_time, encode_json
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_name


@dataclass(frozen=True, slots=True)
class GeneratorRecord:
    """One generator's state as last applied."""

    name: str
    #: The source commit it was listed at (None: a list generator, or never listed).
    revision: str | None
    #: app name -> the app's entry (a JSON mapping the config's App model reads back).
    apps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Why its prune guard holds it, or None.
    held: str | None = None
    #: The apps the held removal would delete.
    removing: tuple[str, ...] = ()
    updated_at: datetime | None = None


class GeneratorStore(StoreCore):
    def save_generators(self, records: Mapping[str, GeneratorRecord]) -> None:
        """Replace every generator's stored state with ``records``."""
        rows = []
        app_rows = []
        stamp = self._stamp(None)
        for name, record in records.items():
            require_name(name, "generator")
            rows.append(
                [
                    name,
                    record.revision,
                    record.held,
                    encode_json(list(record.removing), f"generator {name}'s held apps"),
                    stamp,
                ]
            )
            for app, spec in record.apps.items():
                require_name(app, "app")
                app_rows.append([name, app, encode_json(spec, f"generated app {app}")])
        with write_transaction(self.db):
            self.db.execute("DELETE FROM generated_apps")
            self.db.execute("DELETE FROM generators")
            self.db.conn.executemany(
                "INSERT INTO generators (name, revision, held, removing, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self.db.conn.executemany(
                "INSERT INTO generated_apps (generator, app, spec) VALUES (?, ?, ?)", app_rows
            )

    def generator_states(self) -> dict[str, GeneratorRecord]:
        """Every generator's stored state, by name."""
        apps: dict[str, dict[str, Any]] = {}
        for row in self.db.query(
            "SELECT generator, app, spec FROM generated_apps ORDER BY generator, app"
        ):
            apps.setdefault(row["generator"], {})[row["app"]] = decode_json(row["spec"])
        return {
            row["name"]: GeneratorRecord(
                row["name"],
                row["revision"],
                apps.get(row["name"], {}),
                row["held"],
                tuple(decode_json(row["removing"]) or ()),
                decode_time(row["updated_at"]),
            )
            for row in self.db.query(
                "SELECT name, revision, held, removing, updated_at FROM generators ORDER BY name"
            )
        }
