"""GET on resources: get, list (selectors, limit and continue, Table) and watch.

Lists are consistent across pages as the real server's are: the first page keeps a
snapshot of the remaining entries (references to immutable bytes, so it costs little)
and the continue token names it. A token whose snapshot has expired (after five
minutes, like etcd compaction) is answered with 410 Expired.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fleet.sim import errors, tables, wire
from fleet.sim.cluster import ClusterState
from fleet.sim.registry import ResourceType
from fleet.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from fleet.sim.store import Entry, dumps
from fleet.sim.watch import WatchRequest, stream

SNAPSHOT_TTL = 300.0
MAX_SNAPSHOTS = 256


@dataclass(slots=True)
class _Snapshot:
    rv: int
    entries: list[Entry]
    created: float


class Reader:
    """Read verbs of one cluster."""

    def __init__(self, cluster: ClusterState, bookmark_interval: float = 60.0) -> None:
        self.cluster = cluster
        self.bookmark_interval = bookmark_interval
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()

    # ----------------------------------------------------------------- render

    def render(self, rt: ResourceType, version: str, entry: Entry) -> bytes:
        """The bytes of ``entry`` served under ``version``."""
        api_version = rt.api_version(version)
        if entry.api_version == api_version:
            return entry.data
        obj = entry.obj()
        obj["apiVersion"] = api_version
        return dumps(obj)

    def served(self, rt: ResourceType, version: str, entry: Entry) -> dict[str, Any]:
        obj = entry.obj()
        obj["apiVersion"] = rt.api_version(version)
        return obj

    # ------------------------------------------------------------------- get

    def get(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str, name: str
    ) -> web.Response:
        entry = self.cluster.get(rt, namespace, name)
        accept = request.headers.get("Accept", "")
        if tables.wants_table(accept):
            table = tables.table(
                rt,
                [self.served(rt, version, entry)],
                {"resourceVersion": str(entry.rv)},
                request.query.get("includeObject", "Metadata"),
            )
            return wire.respond(200, table, tables.TABLE_MEDIA)
        return wire.respond(200, self.render(rt, version, entry))

    # ------------------------------------------------------------------ list

    def selectors(
        self, request: web.Request, rt: ResourceType
    ) -> tuple[LabelSelector, FieldSelector]:
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(
                request.query.get("fieldSelector"), rt.group, rt.plural, rt.namespaced
            )
        except SelectorError as error:
            raise errors.bad_request(str(error)) from None
        return labels, fields

    def matching(
        self, rt: ResourceType, namespace: str | None, labels: LabelSelector, fields: FieldSelector
    ) -> list[Entry]:
        entries = self.cluster.store.entries(rt.group_resource, namespace)
        if not labels.empty:
            entries = [e for e in entries if labels.matches(e.labels)]
        if not fields.empty:
            if fields.only_metadata:
                entries = [e for e in entries if fields.matches_name(e.namespace, e.name)]
            else:
                entries = [e for e in entries if fields.matches(e.obj())]
        return entries

    def collection(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str | None
    ) -> web.Response:
        query = request.query
        labels, fields = self.selectors(request, rt)
        limit = _int(query.get("limit"), "limit")
        token = query.get("continue", "")
        if token:
            rv, entries = self._resume(token)
        else:
            self._check_list_rv(query.get("resourceVersion"), query.get("resourceVersionMatch"))
            rv = self.cluster.store.rv
            entries = self.matching(rt, namespace, labels, fields)
        next_token = ""
        remaining: int | None = None
        if limit and limit > 0 and len(entries) > limit:
            rest = entries[limit:]
            entries = entries[:limit]
            next_token = self._snapshot(rv, rest)
            remaining = len(rest)
        if tables.wants_table(request.headers.get("Accept", "")):
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if next_token:
                meta["continue"] = next_token
            objects = [self.served(rt, version, e) for e in entries]
            table = tables.table(rt, objects, meta, query.get("includeObject", "Metadata"))
            return wire.respond(200, table, tables.TABLE_MEDIA)
        body = wire.list_bytes(
            rt.list_kind,
            rt.api_version(version),
            rv,
            [self.render(rt, version, e) for e in entries],
            next_token,
            remaining,
        )
        return wire.respond(200, body)

    def _check_list_rv(self, rv: str | None, match: str | None) -> None:
        if match not in (None, "", "Exact", "NotOlderThan"):
            raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
        if match and not rv:
            raise errors.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        if match == "Exact" and rv is not None and rv != str(self.cluster.store.rv):
            raise errors.expired(f"too old resource version: {rv} ({self.cluster.store.rv})")

    def _snapshot(self, rv: int, rest: list[Entry]) -> str:
        now = time.monotonic()
        while self._snapshots:
            oldest_id, oldest = next(iter(self._snapshots.items()))
            if now - oldest.created < SNAPSHOT_TTL and len(self._snapshots) < MAX_SNAPSHOTS:
                break
            del self._snapshots[oldest_id]
        snapshot_id = secrets.token_hex(8)
        self._snapshots[snapshot_id] = _Snapshot(rv, rest, now)
        payload = {
            "v": "meta.k8s.io/v1",
            "rv": rv,
            "start": f"{rest[0].namespace}/{rest[0].name}",
            "id": snapshot_id,
        }
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    def _resume(self, token: str) -> tuple[int, list[Entry]]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(token.encode()))
            snapshot_id = str(payload["id"])
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion"
            ) from None
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None or time.monotonic() - snapshot.created > SNAPSHOT_TTL:
            raise errors.expired(
                "The provided continue parameter is too old to "
                "display a consistent list result. You can "
                "start a new list without the continue parameter, "
                "or use the continue token in this "
                "response to retrieve the remainder of the results. "
                "Continuing with the provided token "
                "results in an inconsistent list - objects that "
                "were created, modified, or deleted between "
                "the time the first chunk was returned and now may show up in the list."
            )
        return snapshot.rv, snapshot.entries

    # ----------------------------------------------------------------- watch

    async def watch(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        name: str = "",
    ) -> web.StreamResponse:
        query = request.query
        labels, fields = self.selectors(request, rt)
        if name:
            fields = parse_field_selector(
                f"metadata.name={name}", rt.group, rt.plural, rt.namespaced
            )
        send_initial = wire.parse_bool(query.get("sendInitialEvents"))
        rv_text = query.get("resourceVersion", "")
        since: int | None = None
        if rv_text not in ("", "0") and not send_initial:
            since = _int(rv_text, "resourceVersion")
        timeout = float(_int(query.get("timeoutSeconds"), "timeoutSeconds") or 1800)
        watch = WatchRequest(
            group_resource=rt.group_resource,
            namespace=namespace,
            labels=labels,
            fields=fields,
            since=since,
            send_initial_events=send_initial,
            bookmarks=wire.parse_bool(query.get("allowWatchBookmarks")),
            timeout=timeout,
            bookmark_interval=self.bookmark_interval,
        )
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = query.get("includeObject", "Metadata")
        api_version = rt.api_version(version)

        def render(entry: Entry) -> bytes:
            if as_table:
                return dumps(
                    tables.table(
                        rt,
                        [self.served(rt, version, entry)],
                        {"resourceVersion": str(entry.rv)},
                        include,
                    )
                )
            return self.render(rt, version, entry)

        def bookmark(rv: int, annotations: dict[str, str] | None) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
            if annotations:
                meta["annotations"] = annotations
            return dumps({"kind": rt.kind, "apiVersion": api_version, "metadata": meta})

        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        if as_table:
            response.headers["Content-Type"] = tables.TABLE_MEDIA
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for line in stream(self.cluster.store, watch, render, bookmark):
                await response.write(line)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away: the watch simply ends
        return response


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None
