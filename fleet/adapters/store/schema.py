"""The history schema, as an ordered list of sqlite-utils migrations.

sqlite-utils' ``Migrations`` records each applied step by name in ``_sqlite_migrations``,
and runs every step together with that record in one transaction, so a crash half-way
through a migration leaves the previous schema intact. A new schema change is a new
function appended below; an applied one is never edited.

The DDL is written out in SQL rather than through ``Table.create`` because it needs
things that API does not express: ``AUTOINCREMENT`` (ids that ``fleet events --follow``
and history paging rely on are never reused, even after retention deletes the newest
rows), ``ON DELETE CASCADE`` from results to their sync, partial indexes and
``WITHOUT ROWID`` tables.

Vocabularies (trigger, result, action) are checked in Python, not with ``CHECK``
constraints: widening a ``CHECK`` in SQLite means rebuilding the table.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from fleet.adapters.store.records import StoreError

MIGRATIONS = Migrations("fleet-history")


@MIGRATIONS(name="0001_initial")
def initial(db: Database) -> None:
    db.execute("""
        CREATE TABLE syncs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            revision TEXT NOT NULL DEFAULT '',
            triggered_by TEXT NOT NULL,
            dry_run INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            applied_at TEXT,
            healthy_at TEXT,
            finished_at TEXT,
            result TEXT NOT NULL DEFAULT 'Running',
            message TEXT NOT NULL DEFAULT '',
            trace_id TEXT,
            resumed_from INTEGER,
            progress TEXT
        )""")
    # History of one target, newest first; also "newest sync per target" for retention.
    db.execute("CREATE INDEX syncs_by_target ON syncs (app, cluster, id)")
    db.execute("CREATE INDEX syncs_by_app ON syncs (app, id)")
    db.execute("CREATE INDEX syncs_by_cluster ON syncs (cluster, id)")
    db.execute("CREATE INDEX syncs_by_start ON syncs (started_at)")
    # Running syncs are few; a partial index finds them at startup without a scan.
    db.execute("CREATE INDEX syncs_running ON syncs (id) WHERE result = 'Running'")

    db.execute("""
        CREATE TABLE resource_results (
            id INTEGER PRIMARY KEY,
            sync_id INTEGER NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
            phase TEXT NOT NULL,
            wave INTEGER NOT NULL,
            api_group TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            action TEXT NOT NULL,
            health TEXT,
            message TEXT NOT NULL DEFAULT '',
            duration_ms INTEGER,
            at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX resource_results_by_sync ON resource_results (sync_id, id)")

    db.execute("""
        CREATE TABLE inventory (
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            api_group TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            revision TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (app, cluster, api_group, kind, namespace, name)
        ) WITHOUT ROWID""")

    db.execute("""
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            app TEXT,
            cluster TEXT,
            sync_id INTEGER,
            message TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX events_by_time ON events (at)")
    db.execute("CREATE INDEX events_by_app ON events (app, id)")

    db.execute("""
        CREATE TABLE app_status (
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            revision TEXT,
            sync_status TEXT NOT NULL DEFAULT 'Unknown',
            health TEXT NOT NULL DEFAULT 'Unknown',
            message TEXT NOT NULL DEFAULT '',
            last_sync_id INTEGER,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (app, cluster)
        ) WITHOUT ROWID""")

    db.execute("""
        CREATE TABLE pins (
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            revision TEXT NOT NULL,
            pinned_at TEXT NOT NULL,
            PRIMARY KEY (app, cluster)
        ) WITHOUT ROWID""")


@MIGRATIONS(name="0002_rollout_holds")
def rollout_holds(db: Database) -> None:
    """Holds after a rollback, and the rollout states that must survive a restart."""
    db.execute("""
        CREATE TABLE rollout_holds (
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            revision TEXT NOT NULL,
            reason TEXT NOT NULL,
            base_revision TEXT NOT NULL DEFAULT '',
            held_at TEXT NOT NULL,
            PRIMARY KEY (app, cluster)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE rollout_states (
            app TEXT NOT NULL PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID""")


@MIGRATIONS(name="0003_api_audit")
def api_audit(db: Database) -> None:
    """Every write request to the API (fleet.adapters.store.audit)."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            principal TEXT NOT NULL,
            method TEXT NOT NULL,
            route TEXT NOT NULL,
            path TEXT NOT NULL,
            app TEXT,
            remote TEXT NOT NULL,
            status INTEGER NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            details TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at)")
    db.execute("CREATE INDEX IF NOT EXISTS audit_by_principal ON audit (principal, id)")
    db.execute("CREATE INDEX IF NOT EXISTS audit_by_app ON audit (app, id)")


@MIGRATIONS(name="0004_suspensions")
def suspensions(db: Database) -> None:
    """``fleet suspend``: an app on a cluster, an app everywhere (cluster '*'), or a
    whole cluster (app '*'); kept across restarts (fleet.adapters.store.suspensions)."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS suspensions (
            app TEXT NOT NULL,
            cluster TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            suspended_at TEXT NOT NULL,
            PRIMARY KEY (app, cluster)
        ) WITHOUT ROWID""")


@MIGRATIONS(name="0005_config_revision")
def config_revision(db: Database) -> None:
    """Each sync records the fleet config revision in force when it started (the
    commit of the config source; NULL for a local config file)."""
    db.execute("ALTER TABLE syncs ADD COLUMN config_revision TEXT")


@MIGRATIONS(name="0006_generators")
def generators(db: Database) -> None:
    """What each app generator made last and its hold, kept across restarts
    (fleet.adapters.store.generators)."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS generators (
            name TEXT NOT NULL PRIMARY KEY,
            revision TEXT,
            held TEXT,
            removing TEXT NOT NULL DEFAULT '[]',
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE IF NOT EXISTS generated_apps (
            generator TEXT NOT NULL,
            app TEXT NOT NULL,
            spec TEXT NOT NULL,
            PRIMARY KEY (generator, app)
        ) WITHOUT ROWID""")


def migrate(db: Database) -> None:
    """Bring ``db`` to the current schema; refuse a database written by a newer fleet.

    The caller holds a write transaction (``BEGIN IMMEDIATE``), so two processes opening
    a fresh file at once cannot both try to create the tables.
    """
    known = set(known_steps())
    unknown = [m.name for m in MIGRATIONS.applied(db) if m.name not in known]
    if unknown:
        raise StoreError(
            f"history database has schema steps this fleet does not know ({', '.join(unknown)}):"
            " it was written by a newer fleet; upgrade fleet or point it at another file"
        )
    MIGRATIONS.apply(db)


def known_steps() -> list[str]:
    """Names of every migration this fleet has, in order."""
    # Migrations keeps its registry private; reading it beats keeping a second list.
    return [migration.name for migration in MIGRATIONS._migrations]


def schema_steps(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first."""
    return [migration.name for migration in MIGRATIONS.applied(db)]
