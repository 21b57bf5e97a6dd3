"""The HTTP server alone: uvicorn, with the parser ``missions-mcp api`` uses, answering a fixed body.

    python bench/bare_asgi.py PORT

Started by bench_local.py as the baseline of what the API process spends per request: the same
server and parser with no framework, no routing and no store behind them, so the rest of the API's
time per request is its own. Loopback only; stops on SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

BODY = b'{"data":{"mission_id":"182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e","name":"bench","status":"active"}}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", log_level="warning", access_log=False)
