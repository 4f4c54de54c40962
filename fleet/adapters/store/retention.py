"""Retention: deleting old history in small batches.

The daemon's writes share one SQLite write lock with retention, so retention deletes at
most ``batch_size`` syncs (their resource results go with them, by ``ON DELETE
CASCADE``) and ``batch_size`` events per transaction. The async facade yields between
batches, so a large first cleanup never holds up a sync's writes for long.

Never deleted: a running sync (it may still be resumed), and the newest sync of each
(app, cluster) (``fleet status`` points at it).
"""

from __future__ import annotations

from datetime import timedelta

from fleet.adapters.store.codec import encode_time
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore
from fleet.adapters.store.records import InvalidRecordError, RetentionPolicy, RetentionReport

_TOO_OLD = """
SELECT s.id FROM syncs AS s
WHERE s.started_at < :cutoff AND s.result != 'Running'
  AND s.id != (SELECT max(n.id) FROM syncs AS n WHERE n.app = s.app AND n.cluster = s.cluster)
ORDER BY s.id LIMIT :batch
"""

_CROWDED_TARGETS = """
SELECT app, cluster FROM syncs GROUP BY app, cluster HAVING count(*) > :keep
"""

_NEWEST_KEPT = """
SELECT id FROM syncs WHERE app = :app AND cluster = :cluster ORDER BY id DESC LIMIT 1 OFFSET :skip
"""

_OLDER_THAN = """
SELECT id FROM syncs
WHERE app = :app AND cluster = :cluster AND id < :below AND result != 'Running'
ORDER BY id LIMIT :batch
"""


class Retention(StoreCore):
    def retention_batch(self, policy: RetentionPolicy, *, batch_size: int = 200) -> RetentionReport:
        """Delete at most one batch of syncs and one of events; an empty report means done."""
        if batch_size < 1:
            raise InvalidRecordError(f"batch_size must be at least 1, got {batch_size}")
        now = self._clock()
        with write_transaction(self.db):
            doomed: set[int] = set()
            if policy.max_age_days is not None:
                cutoff = encode_time(now - timedelta(days=policy.max_age_days))
                rows = self.db.query(_TOO_OLD, {"cutoff": cutoff, "batch": batch_size})
                doomed.update(row["id"] for row in rows)
            if policy.keep_per_target is not None and len(doomed) < batch_size:
                doomed.update(self._beyond_count(policy.keep_per_target, batch_size - len(doomed)))
            syncs = 0
            if doomed:
                marks = ", ".join("?" * len(doomed))
                syncs = self.db.execute(
                    f"DELETE FROM syncs WHERE id IN ({marks})", sorted(doomed)
                ).rowcount
            events = 0
            if policy.event_max_age_days is not None:
                cutoff = encode_time(now - timedelta(days=policy.event_max_age_days))
                events = self.db.execute(
                    "DELETE FROM events WHERE id IN"
                    " (SELECT id FROM events WHERE at < ? ORDER BY id LIMIT ?)",
                    [cutoff, batch_size],
                ).rowcount
        return RetentionReport(syncs=syncs, events=events)

    def apply_retention(self, policy: RetentionPolicy, *, batch_size: int = 200) -> RetentionReport:
        """Run batches until nothing is left to delete; returns the totals."""
        total = RetentionReport()
        while not (report := self.retention_batch(policy, batch_size=batch_size)).empty:
            total += report
        return total

    def _beyond_count(self, keep: int, batch: int) -> list[int]:
        """Ids of up to ``batch`` syncs older than the ``keep`` newest of their target.

        Walks the ``syncs_by_target`` index per crowded target rather than ranking every
        row with a window function: the write lock is held for milliseconds, not a scan.
        """
        found: list[int] = []
        for target in list(self.db.query(_CROWDED_TARGETS, {"keep": keep})):
            [newest_kept] = self.db.query(_NEWEST_KEPT, {**target, "skip": keep - 1})
            rows = self.db.query(
                _OLDER_THAN, {**target, "below": newest_kept["id"], "batch": batch - len(found)}
            )
            found.extend(row["id"] for row in rows)
            if len(found) >= batch:
                break
        return found
