"""Missions and their untyped sub-resources (tools, knowledge bases, MCP servers).

Every function here takes the store and the tenant's key hash (:func:`tenant_hash`) first and
does its work in one :meth:`Store.atomic` transaction (nested in the caller's, if there is one);
:meth:`Store.run` says where it runs. Answers are plain dicts in the contract's shapes; errors
are :class:`NotFound`, :class:`Conflict` and :class:`Invalid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .store import MAX_OFFSET, NotFound, Row, Store, Tx, dump_json, load_json, new_id, now_iso, page_meta, present

__all__ = [
    "RESOURCE_KINDS",
    "ResourceKind",
    "clone_mission",
    "create_mission",
    "create_resource",
    "delete_mission",
    "delete_resource",
    "find_mission",
    "get_mission",
    "get_resource",
    "list_missions",
    "list_resources",
    "mission_out",
    "update_mission",
    "update_resource",
]

MISSION_FIELDS = ("name", "description", "model", "instructions", "execution_mode", "metadata")


@dataclass(frozen=True)
class ResourceKind:
    """One kind of untyped sub-resource of a mission."""

    kind: str
    """The value of ``resources.kind``."""
    noun: str
    """What messages call it: "mission tool"."""
    id_field: str
    """The key of its id in answers: ``tool_id``."""


RESOURCE_KINDS = {
    "tools": ResourceKind("tool", "mission tool", "tool_id"),
    "knowledge-bases": ResourceKind("knowledge_base", "knowledge base", "knowledge_base_id"),
    "mcp-servers": ResourceKind("mcp_server", "MCP server", "mcp_server_id"),
}
"""By path segment."""


# --------------------------------------------------------------------------- missions


def mission_out(row: Row) -> dict[str, Any]:
    return present(
        {
            "mission_id": row["mission_id"],
            "name": row["name"],
            "description": row["description"],
            "model": row["model"],
            "instructions": row["instructions"],
            "execution_mode": row["execution_mode"],
            "metadata": load_json(row["metadata"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


def find_mission(tx: Tx, mission_id: str) -> Row:
    row = tx.one("SELECT * FROM missions WHERE mission_id = ? AND tenant = ?", (str(mission_id), tx.tenant))
    if row is None:
        raise NotFound("mission", mission_id)
    return row


def list_missions(store: Store, key: str, page_number: int, page_size: int) -> dict[str, Any]:
    offset = (page_number - 1) * page_size
    with store.atomic(key, read_only=True) as tx:
        total = tx.value("SELECT COUNT(*) FROM missions WHERE tenant = ?", (tx.tenant,))
        rows = (
            []
            if offset >= min(total, MAX_OFFSET)
            else tx.all(
                "SELECT * FROM missions WHERE tenant = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                (tx.tenant, page_size, offset),
            )
        )
    return {"data": [mission_out(r) for r in rows], "meta": page_meta(total, page_number, page_size)}


def _insert_mission(tx: Tx, fields: dict[str, Any]) -> Row:
    mission_id, now = new_id(), now_iso()
    tx.execute(
        "INSERT INTO missions (mission_id, tenant, name, description, model, instructions, execution_mode,"
        " metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            mission_id,
            tx.tenant,
            fields["name"],
            fields.get("description"),
            fields.get("model"),
            fields.get("instructions"),
            str(fields.get("execution_mode") or "external"),
            dump_json(fields.get("metadata"), ("body", "metadata")),
            now,
            now,
        ),
    )
    return find_mission(tx, mission_id)


def create_mission(store: Store, key: str, fields: dict[str, Any]) -> dict[str, Any]:
    with store.atomic(key) as tx:
        return {"data": mission_out(_insert_mission(tx, fields))}


def get_mission(store: Store, key: str, mission_id: str) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        return {"data": mission_out(find_mission(tx, mission_id))}


def update_mission(store: Store, key: str, mission_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Partial update: only the fields present in ``fields`` change (``null`` clears an optional
    field; ``name`` and ``execution_mode`` cannot be cleared and ``null`` leaves them as they are)."""
    with store.atomic(key) as tx:
        find_mission(tx, mission_id)
        changes: dict[str, Any] = {}
        for name in MISSION_FIELDS:
            if name not in fields:
                continue
            value = fields[name]
            if name in ("name", "execution_mode"):
                if value is None:
                    continue
                value = str(value)
            elif name == "metadata":
                value = dump_json(value, ("body", "metadata"))
            changes[name] = value
        changes["updated_at"] = now_iso()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        tx.execute(f"UPDATE missions SET {assignments} WHERE mission_id = ?", (*changes.values(), str(mission_id)))
        return {"data": mission_out(find_mission(tx, mission_id))}


def delete_mission(store: Store, key: str, mission_id: str) -> None:
    """Deletes the mission with its runs, plans, events, linked agents and sub-resources."""
    with store.atomic(key) as tx:
        find_mission(tx, mission_id)
        tx.execute("DELETE FROM missions WHERE mission_id = ?", (str(mission_id),))


def clone_mission(store: Store, key: str, mission_id: str) -> dict[str, Any]:
    """A new mission with the definition and the sub-resources of ``mission_id`` (not its runs)."""
    with store.atomic(key) as tx:
        source = mission_out(find_mission(tx, mission_id))
        source["name"] = f"{source['name']} (copy)"
        clone = _insert_mission(tx, source)
        now = now_iso()
        for row in tx.all("SELECT kind, document FROM resources WHERE mission_id = ? ORDER BY seq", (mission_id,)):
            tx.execute(
                "INSERT INTO resources (resource_id, kind, mission_id, document, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (new_id(), row["kind"], clone["mission_id"], row["document"], now, now),
            )
        return {"data": mission_out(clone)}


# --------------------------------------------------------------------------- sub-resources


def _resource_out(row: Row, kind: ResourceKind) -> dict[str, Any]:
    return {
        **load_json(row["document"]),
        kind.id_field: row["resource_id"],
        "mission_id": row["mission_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _find_resource(tx: Tx, kind: ResourceKind, mission_id: str, resource_id: str) -> Row:
    row = tx.one(
        "SELECT * FROM resources WHERE resource_id = ? AND kind = ? AND mission_id = ?",
        (resource_id, kind.kind, mission_id),
    )
    if row is None:
        raise NotFound(kind.noun, resource_id)
    return row


def _document(body: dict[str, Any], kind: ResourceKind) -> str:
    """The stored document: the body without the keys the server owns."""
    owned = {kind.id_field, "mission_id", "created_at", "updated_at"}
    return dump_json({k: v for k, v in body.items() if k not in owned}, ("body",)) or "{}"


def list_resources(store: Store, key: str, kind: ResourceKind, mission_id: str) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        find_mission(tx, mission_id)
        rows = tx.all("SELECT * FROM resources WHERE mission_id = ? AND kind = ? ORDER BY seq", (mission_id, kind.kind))
    return {"data": [_resource_out(r, kind) for r in rows]}


def create_resource(
    store: Store, key: str, kind: ResourceKind, mission_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    with store.atomic(key) as tx:
        find_mission(tx, mission_id)
        resource_id, now = new_id(), now_iso()
        tx.execute(
            "INSERT INTO resources (resource_id, kind, mission_id, document, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (resource_id, kind.kind, mission_id, _document(body, kind), now, now),
        )
        return {"data": _resource_out(_find_resource(tx, kind, mission_id, resource_id), kind)}


def get_resource(store: Store, key: str, kind: ResourceKind, mission_id: str, resource_id: str) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        find_mission(tx, mission_id)
        return {"data": _resource_out(_find_resource(tx, kind, mission_id, resource_id), kind)}


def update_resource(
    store: Store, key: str, kind: ResourceKind, mission_id: str, resource_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Replaces the document (keys left out are gone); the id and ``created_at`` stay."""
    with store.atomic(key) as tx:
        find_mission(tx, mission_id)
        _find_resource(tx, kind, mission_id, resource_id)
        tx.execute(
            "UPDATE resources SET document = ?, updated_at = ? WHERE resource_id = ?",
            (_document(body, kind), now_iso(), resource_id),
        )
        return {"data": _resource_out(_find_resource(tx, kind, mission_id, resource_id), kind)}


def delete_resource(store: Store, key: str, kind: ResourceKind, mission_id: str, resource_id: str) -> None:
    with store.atomic(key) as tx:
        find_mission(tx, mission_id)
        _find_resource(tx, kind, mission_id, resource_id)
        tx.execute("DELETE FROM resources WHERE resource_id = ?", (resource_id,))
