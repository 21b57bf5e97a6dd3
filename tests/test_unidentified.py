"""A request whose id is missing or not a string or an integer is answered -32600, never dropped.

The rule itself here; over streamable HTTP and SSE through the real command in
``test_http_transports.py``; the stdio side in ``test_stdio_framing.py``, the authenticated side in
``test_http_security.py``.
"""

from __future__ import annotations

import json

import pytest

from missions_mcp.unidentified import REQUEST_METHODS, unidentified_method


@pytest.mark.parametrize("id_", [1.5, True, False, None, {"n": 1}, [1], 1.0])
def test_a_request_method_with_an_unusable_id_is_named(id_):
    body = json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": "x"}}).encode()
    assert unidentified_method(body) == "tools/call"


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 7, "method": "ping"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        [{"jsonrpc": "2.0", "method": "ping"}],
    ],
)
def test_requests_with_ids_notifications_responses_and_batches_are_left_to_the_sdk(body):
    assert unidentified_method(json.dumps(body).encode()) is None


def test_broken_json_is_left_to_the_sdk():
    assert unidentified_method(b'{"method": "ping", ') is None
    assert unidentified_method(b"[" * 100_000 + b'"method"') is None


def test_the_request_methods_are_the_sdks_client_requests():
    assert {"initialize", "ping", "tools/list", "tools/call", "resources/read", "prompts/get"} <= REQUEST_METHODS
    assert not any(method.startswith("notifications/") for method in REQUEST_METHODS)
