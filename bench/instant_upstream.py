"""An upstream that answers at once: the Missions API's recorded answers, replayed over HTTP/1.1.

    python bench/instant_upstream.py PORT GET_ANSWER.json POST_ANSWER.json

Started by bench_session.py as a baseline. A GET is answered with the first file's bytes (200), any
other request with the second's (201), with no work in between, so that a call through missions-mcp
to it costs what the server itself costs (client, request, answer checks), without the time the
Missions API takes to answer. The answers are real ones, recorded from ``missions-mcp api`` in the
same run, so the server checks and shapes them exactly as it does the API's. Keep-alive, loopback
only; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def _answer(status: bytes, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status.decode()}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def main(port: int, get_answer: bytes, post_answer: bytes) -> None:
    read = _answer(b"200 OK", get_answer)
    write = _answer(b"201 Created", post_answer)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                writer.write(read if head.startswith(b"GET ") else write)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port, get_path, post_path = sys.argv[1:4]
    asyncio.run(main(int(port), Path(get_path).read_bytes(), Path(post_path).read_bytes()))
