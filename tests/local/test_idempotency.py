"""The Idempotency-Key header on every write: claimed in the database with the write, replayed after."""

from __future__ import annotations

import pytest

from missions_mcp.local import idempotency, missions

pytestmark = pytest.mark.anyio


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_a_retried_delete_replays_its_204_instead_of_not_found(client, api):
    mid = await api.mission()
    first = await client.delete(f"/ai/missions/{mid}", headers=key("del-1"))
    again = await client.delete(f"/v2/ai/missions/{mid}", headers=key("del-1"))
    assert first.status_code == again.status_code == 204 and again.content == b""
    assert again.headers["idempotent-replayed"] == "true"
    assert (await client.delete(f"/ai/missions/{mid}", headers=key("del-2"))).status_code == 404
    assert (await client.delete(f"/ai/missions/{mid}")).status_code == 404


async def test_unlink_and_sub_resource_deletes_replay_too(client, api):
    mid, rid = await api.run()
    base = f"/ai/missions/{mid}/runs/{rid}/telnyx-agents"
    await client.post(base, json={"telnyx_agent_id": "a1"})
    assert [(await client.delete(f"{base}/a1", headers=key("u"))).status_code for _ in range(2)] == [204, 204]
    tool = (await client.post(f"/ai/missions/{mid}/tools", json={"name": "t"})).json()["data"]["tool_id"]
    path = f"/ai/missions/{mid}/tools/{tool}"
    assert [(await client.delete(path, headers=key("t"))).status_code for _ in range(2)] == [204, 204]
    assert (await client.get(path)).status_code == 404


async def test_patch_and_put_replay_the_first_answer(client, api):
    mid, rid = await api.run()
    run = f"/ai/missions/{mid}/runs/{rid}"
    first = await client.patch(run, json={"status": "running"}, headers=key("p"))
    again = await client.patch(run, json={"status": "running"}, headers=key("p"))
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    events = (await client.get(run + "/events")).json()["data"]
    assert [e["type"] for e in events] == ["status_change"]
    put = [await client.put(f"/ai/missions/{mid}", json={"name": "n"}, headers=key("put")) for _ in range(2)]
    assert put[0].json() == put[1].json()


async def test_the_same_key_on_another_path_or_method_is_another_claim(client, api):
    mid = await api.mission()
    a = await client.post(f"/ai/missions/{mid}/runs", json={}, headers=key("shared"))
    b = await client.post("/ai/missions", json={"name": "x"}, headers=key("shared"))
    assert a.status_code == b.status_code == 201 and "idempotent-replayed" not in b.headers


async def test_the_record_is_written_in_the_same_transaction_as_the_write(client, app, monkeypatch):
    """If storing the answer fails, the write it answers is not kept either (and the key is free)."""

    def broken(result):
        raise RuntimeError("disk full while storing the answer")

    from missions_mcp.local import routes

    monkeypatch.setattr(routes, "_render", broken)
    with pytest.raises(RuntimeError):
        await client.post("/ai/missions", json={"name": "lost"}, headers=key("atomic"))
    store = app.state.store
    assert missions.list_missions(store, "local", 1, 10)["meta"]["total_results"] == 0
    with store.atomic(read_only=True) as tx:
        assert tx.value("SELECT COUNT(*) FROM idempotency") == 0
    monkeypatch.undo()
    r = await client.post("/ai/missions", json={"name": "kept"}, headers=key("atomic"))
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


async def test_an_expired_record_is_a_new_claim(client, app, monkeypatch):
    first = await client.post("/ai/missions", json={"name": "m"}, headers=key("old"))
    with app.state.store.atomic() as tx:
        tx.execute("UPDATE idempotency SET created_at = created_at - ?", (idempotency.TTL_SECONDS + 1,))
    again = await client.post("/ai/missions", json={"name": "m"}, headers=key("old"))
    assert again.status_code == 201 and again.json() != first.json()


@pytest.mark.parametrize("value", ["x" * 256, "tab\there"])
async def test_an_unusable_key_is_422_naming_the_header(client, value):
    r = await client.post("/ai/missions", json={"name": "m"}, headers={"Idempotency-Key": value})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (await client.get("/ai/missions")).json()["meta"]["total_results"] == 0


async def test_reads_ignore_the_header(client, api, app):
    await api.mission()
    r = await client.get("/ai/missions", headers=key("read"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    with app.state.store.atomic(read_only=True) as tx:
        assert tx.value("SELECT COUNT(*) FROM idempotency") == 0


async def test_an_event_keyed_alike_in_header_and_body_is_deduplicated_once_by_the_run(client, api, app):
    """log_event deduplicates on its own idempotency_key: the same key in the header makes no second
    claim, and a retry, a changed event and a changed header still behave as with a claim."""
    mid, rid = await api.run()
    events = f"/ai/missions/{mid}/runs/{rid}/events"
    body = {"type": "custom", "summary": "once", "idempotency_key": "ev-1"}
    first = await client.post(events, json=body, headers=key("ev-1"))
    again = await client.post(events, json=body, headers=key("ev-1"))
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    changed = await client.post(events, json={**body, "summary": "twice"}, headers=key("ev-1"))
    assert changed.status_code == 409 and "ev-1" in changed.json()["detail"]
    with app.state.store.atomic(read_only=True) as tx:
        assert tx.value("SELECT COUNT(*) FROM idempotency") == 0
        assert tx.value("SELECT COUNT(*) FROM events WHERE idempotency_key = 'ev-1'") == 1
    other = await client.post(events, json={**body, "idempotency_key": "ev-2"}, headers=key("hdr-2"))
    assert other.status_code == 201
    with app.state.store.atomic(read_only=True) as tx:
        assert tx.value("SELECT COUNT(*) FROM idempotency") == 1  # a different header key is claimed as ever
    bad = await client.post(events, json={**body, "idempotency_key": "tab\there"}, headers=key("tab\there"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
