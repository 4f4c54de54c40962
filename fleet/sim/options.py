"""Options of a write or a delete, as read from the query string and DeleteOptions."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """Query parameters every write takes. An empty ``field_manager`` (internal writes of
    the simulator itself) leaves ``managedFields`` as they were."""

    dry_run: bool = False
    field_manager: str = ""
    force: bool = False
    #: Ignore, Warn (the server default) or Strict (what kubectl sends).
    field_validation: str = "Warn"
    #: Filled by the write: warnings for the client (``Warning`` response headers).
    warnings: list[str] = field(default_factory=list, compare=False)


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    dry_run: bool = False
    propagation: str | None = None
    uid: str | None = None
    resource_version: str | None = None
