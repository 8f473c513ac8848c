"""An open-loop HTTP load generator: requests leave on a fixed schedule, whatever the answers do.

Closed-loop generators (a worker waits for its answer before sending the next request) hide
queueing: when the server slows down they slow down too ("coordinated omission"), and rate
limiters that tick per worker send their requests in bursts (`hey -c 16 -q ...` sends 16 at
the same instant). Here request i is due at start + i / rate; it goes out on a free keep-alive
connection of a pool as soon as it is due, and its latency is measured from when it was due,
so time spent waiting for the server (or for a free connection) counts, as in wrk2.

Raw HTTP/1.1 over asyncio streams (uvloop when installed), one process; at 1,000 requests/s it
needs about a tenth of a core.

>>> request = http_request("127.0.0.1", 8080, "/v1/x", b'{"a": 1}', {"Authorization": "Bearer t"})
>>> request.split(b"\\r\\n")[0]
b'POST /v1/x HTTP/1.1'
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

__all__ = ["LoadResult", "http_request", "offer_open_loop"]


def http_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A keep-alive POST of a JSON body, as bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    """Latency of every request (ms, from its due time), its status (0 = connection error), and the wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(host: str, port: int, requests: list[bytes], rate: float, seconds: float, connections: int) -> LoadResult:
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    result = LoadResult()
    total = int(rate * seconds)
    clock = time.perf_counter  # uvloop's loop.time() ticks in whole milliseconds
    start = clock() + 0.05

    async def one(index: int, due: float) -> None:
        reader, writer = await pool.get()
        try:
            status = await _exchange(reader, writer, requests[index % len(requests)])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0
            writer.close()
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                pass
        result.latencies_ms.append((clock() - due) * 1000)
        result.statuses.append(status)
        pool.put_nowait((reader, writer))

    tasks = []
    for index in range(total):
        due = start + index / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index, due)))
    await asyncio.gather(*tasks)
    result.seconds = clock() - start
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return result


def offer_open_loop(host: str, port: int, path: str, bodies: list[bytes], headers: dict[str, str], *, rate: float,
                    seconds: float, connections: int = 64) -> LoadResult:
    """Offer `rate` requests/s for `seconds` (bodies in turn) over `connections` keep-alive connections."""
    requests = [http_request(host, port, path, body, headers) for body in bodies]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    began = time.perf_counter()
    result = runner(_run(host, port, requests, rate, seconds, connections))
    result.seconds = max(result.seconds, time.perf_counter() - began - 0.05)
    return result
