"""The inventory: which objects fleet manages for each (app, cluster), and from which revision.

Prune computes "previous inventory minus desired", so the inventory must never lose an
object fleet created. The daemon therefore records applied objects as each step
finishes (:meth:`InventoryStore.update_inventory`), not only at the end of a sync; a
kill -9 in between loses at most the objects of the step in flight, and those still
carry fleet's tracking annotation on the cluster, from which
:meth:`InventoryStore.replace_inventory` rebuilds the set when the database is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_name
from fleet.adapters.store.records import InvalidRecordError, StoredRef

# Rows are written with executemany rather than sqlite-utils' insert_all/upsert_all: those
# inspect and convert every value in Python, which cost ten times SQLite's own work here.
_UPSERT = """
INSERT INTO inventory (app, cluster, api_group, kind, namespace, name, revision, updated_at)
VALUES (:app, :cluster, :api_group, :kind, :namespace, :name, :revision, :updated_at)
ON CONFLICT (app, cluster, api_group, kind, namespace, name)
DO UPDATE SET revision = excluded.revision, updated_at = excluded.updated_at
"""


class RefFields(Protocol):
    """Anything naming an object by these four fields (fleet.model's ObjectRef does)."""

    @property
    def group(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


RefLike = tuple[str, str, str, str] | RefFields


class InventoryStore(StoreCore):
    def get_inventory(self, app: str, cluster: str) -> dict[StoredRef, str]:
        """Every managed object of one target, with the revision that last applied it."""
        rows = self.db.query(
            "SELECT api_group, kind, namespace, name, revision FROM inventory"
            " WHERE app = ? AND cluster = ?",
            [app, cluster],
        )
        return {
            StoredRef(row["api_group"], row["kind"], row["namespace"], row["name"]): row["revision"]
            for row in rows
        }

    def replace_inventory(
        self,
        app: str,
        cluster: str,
        entries: Mapping[RefLike, str],
        at: datetime | None = None,
    ) -> None:
        """Make the target's inventory exactly ``entries`` (ref -> revision), atomically."""
        rows = self._rows(app, cluster, entries.items(), at)
        with write_transaction(self.db):
            self.db.execute("DELETE FROM inventory WHERE app = ? AND cluster = ?", [app, cluster])
            self.db.conn.executemany(_UPSERT, rows)

    def update_inventory(
        self,
        app: str,
        cluster: str,
        *,
        revision: str,
        applied: Iterable[RefLike] = (),
        removed: Iterable[RefLike] = (),
        at: datetime | None = None,
    ) -> None:
        """Add or refresh ``applied`` objects (at ``revision``) and drop ``removed`` ones."""
        rows = self._rows(app, cluster, ((ref, revision) for ref in applied), at)
        gone = [_checked(ref) for ref in removed]
        with write_transaction(self.db):
            self.db.conn.executemany(_UPSERT, rows)
            self.db.conn.executemany(
                "DELETE FROM inventory WHERE app = ? AND cluster = ? AND api_group = ?"
                " AND kind = ? AND namespace = ? AND name = ?",
                [(app, cluster, *ref) for ref in gone],
            )

    def delete_inventory(self, app: str, cluster: str) -> int:
        """Forget a target's inventory (its objects were deleted or released); returns the count."""
        with write_transaction(self.db):
            cursor = self.db.execute(
                "DELETE FROM inventory WHERE app = ? AND cluster = ?", [app, cluster]
            )
        return cursor.rowcount

    def inventory_targets(self) -> list[tuple[str, str]]:
        """Every (app, cluster) that has an inventory, sorted: finds targets no longer in config."""
        rows = self.db.query("SELECT DISTINCT app, cluster FROM inventory ORDER BY app, cluster")
        return [(row["app"], row["cluster"]) for row in rows]

    def _rows(
        self,
        app: str,
        cluster: str,
        entries: Iterable[tuple[RefLike, str]],
        at: datetime | None,
    ) -> list[dict[str, str]]:
        require_name(app, "app")
        require_name(cluster, "cluster")
        stamp = self._stamp(at)
        rows = []
        for ref, revision in entries:
            group, kind, namespace, name = _checked(ref)
            if not isinstance(revision, str):
                raise InvalidRecordError(f"revision of {kind} {name} must be a string")
            rows.append(
                {
                    "app": app,
                    "cluster": cluster,
                    "api_group": group,
                    "kind": kind,
                    "namespace": namespace,
                    "name": name,
                    "revision": revision,
                    "updated_at": stamp,
                }
            )
        return rows


def _checked(ref: RefLike) -> StoredRef:
    """``ref`` as a StoredRef: a 4-tuple of strings, or an object with those four fields."""
    try:
        if isinstance(ref, tuple):
            group, kind, namespace, name = ref
        else:
            group, kind, namespace, name = ref.group, ref.kind, ref.namespace, ref.name
    except (AttributeError, TypeError, ValueError):
        raise InvalidRecordError(
            f"object reference must be (group, kind, namespace, name), got {ref!r}"
        ) from None
    if not all(isinstance(part, str) for part in (group, kind, namespace, name)):
        raise InvalidRecordError(f"object reference parts must be strings, got {ref!r}")
    if not kind or not name:
        raise InvalidRecordError(f"object reference needs a kind and a name, got {ref!r}")
    return StoredRef(group, kind, namespace, name)
