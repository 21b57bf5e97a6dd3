"""The official ``telnyx`` Python SDK, a client nobody here wrote, agrees with the embedded API.

Each call below is the Python example of the Missions documentation for that operation, as
published, with the ids of what the walk-through created instead of the examples' placeholders.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

telnyx = pytest.importorskip("telnyx", reason="the official SDK is in the test extra: pip install -e '.[test]'")


@pytest.fixture
def client(live_url: str) -> Iterator[telnyx.Telnyx]:
    with telnyx.Telnyx(api_key="KEY_sdk_walkthrough", base_url=live_url + "/v2", max_retries=0) as sdk:
        yield sdk


def test_documented_walkthrough(client: telnyx.Telnyx) -> None:
    # Create mission
    mission = client.ai.missions.create(
        name="name",
    )
    mission_id = mission.data.mission_id
    assert mission.data.name == "name"

    # Get mission
    mission = client.ai.missions.retrieve(
        mission_id,
    )
    assert mission.data.mission_id == mission_id

    # Start a run
    run = client.ai.missions.runs.create(
        mission_id=mission_id,
    )
    run_id = run.data.run_id
    assert run.data.status == "pending"

    # Update run
    run = client.ai.missions.runs.update(
        run_id=run_id,
        mission_id=mission_id,
        status="running",
    )
    assert run.data.status == "running"

    # Create initial plan
    plan = client.ai.missions.runs.plan.create(
        run_id=run_id,
        mission_id=mission_id,
        steps=[
            {
                "description": "description",
                "sequence": 0,
                "step_id": "step_id",
            }
        ],
    )
    assert [step.step_id for step in plan.data] == ["step_id"]

    # Add step(s) to plan
    response = client.ai.missions.runs.plan.add_steps_to_plan(
        run_id=run_id,
        mission_id=mission_id,
        steps=[
            {
                "description": "second description",
                "sequence": 1,
                "step_id": "second_step_id",
            }
        ],
    )
    assert [step.step_id for step in response.data] == ["second_step_id"]

    # Update step status
    response = client.ai.missions.runs.plan.update_step(
        step_id="step_id",
        mission_id=mission_id,
        run_id=run_id,
        status="in_progress",
    )
    assert response.data.status == "in_progress"

    # Get plan, Get step details
    plan = client.ai.missions.runs.plan.retrieve(
        run_id=run_id,
        mission_id=mission_id,
    )
    assert [(s.step_id, s.status) for s in plan.data] == [("step_id", "in_progress"), ("second_step_id", "pending")]
    response = client.ai.missions.runs.plan.get_step_details(
        step_id="second_step_id",
        mission_id=mission_id,
        run_id=run_id,
    )
    assert response.data.description == "second description"

    # Log event, with the key that makes its retry safe: the second call answers the first event
    logged = [
        client.ai.missions.runs.events.log(
            run_id=run_id,
            mission_id=mission_id,
            summary="summary",
            type="status_change",
            idempotency_key="event-1",
        )
        for _ in range(2)
    ]
    assert logged[0].data.event_id == logged[1].data.event_id
    assert logged[0].data.idempotency_key == "event-1"

    # List events: the run's status change to running, then the one logged event
    page = client.ai.missions.runs.events.list(
        run_id=run_id,
        mission_id=mission_id,
    )
    assert [e.event_id for e in page.data][-1] == logged[0].data.event_id
    assert [e.type for e in page.data] == ["status_change", "status_change"]

    # Get event details
    response = client.ai.missions.runs.events.get_event_details(
        event_id=logged[0].data.event_id,
        mission_id=mission_id,
        run_id=run_id,
    )
    assert response.data.summary == "summary"

    # Pause run, Resume run
    assert client.ai.missions.runs.pause_run(run_id=run_id, mission_id=mission_id).data.status == "paused"
    assert client.ai.missions.runs.resume_run(run_id=run_id, mission_id=mission_id).data.status == "running"

    # List missions, List runs for mission, List recent runs, List recent events, Get run details
    page = client.ai.missions.list()
    assert page.data[0].mission_id == mission_id
    page = client.ai.missions.runs.list(
        mission_id=mission_id,
    )
    assert page.data[0].mission_id == mission_id
    page = client.ai.missions.runs.list_runs()
    assert page.data[0].run_id == run_id
    page = client.ai.missions.list_events()
    assert page.data[0].type == "status_change"
    run = client.ai.missions.runs.retrieve(
        run_id=run_id,
        mission_id=mission_id,
    )
    assert run.data.status == "running"

    # Cancel run
    response = client.ai.missions.runs.cancel_run(
        run_id=run_id,
        mission_id=mission_id,
    )
    assert response.data.status == "cancelled"


def test_pages_follow_to_the_end(client: telnyx.Telnyx) -> None:
    """The SDK's auto-pagination walks ``meta.page_number`` / ``total_pages`` through every event."""
    mission_id = client.ai.missions.create(name="paged").data.mission_id
    run_id = client.ai.missions.runs.create(mission_id=mission_id).data.run_id
    summaries = [f"event {i}" for i in range(45)]
    for summary in summaries:
        client.ai.missions.runs.events.log(run_id=run_id, mission_id=mission_id, summary=summary, type="custom")
    seen = [
        e.summary
        for e in client.ai.missions.runs.events.list(
            run_id=run_id,
            mission_id=mission_id,
            page_size=10,
        )
    ]
    assert seen == summaries


def test_errors_reach_the_sdk_as_its_own_exceptions(client: telnyx.Telnyx) -> None:
    mission_id = client.ai.missions.create(name="errors").data.mission_id
    with pytest.raises(telnyx.NotFoundError):
        client.ai.missions.runs.retrieve(run_id="00000000-0000-4000-8000-000000000000", mission_id=mission_id)
    run_id = client.ai.missions.runs.create(mission_id=mission_id).data.run_id
    with pytest.raises(telnyx.ConflictError):
        client.ai.missions.runs.resume_run(run_id=run_id, mission_id=mission_id)
    with pytest.raises(telnyx.UnprocessableEntityError):
        client.ai.missions.runs.events.log(run_id=run_id, mission_id=mission_id, summary="s", type="no such type")
