"""Server-sent events end cleanly when the client goes away mid-stream."""

import asyncio
import threading
import time

from services.web.events import drain


def test_a_disconnect_stops_the_work_and_closes_the_stream_after_the_step_in_flight():
    stopped, closed, running = threading.Event(), threading.Event(), threading.Event()
    order = []

    def pieces():
        for i in range(1000):
            running.set()
            time.sleep(0.2)  # a slow model step, still running when the client leaves
            order.append(f"step {i}")
            if stopped.is_set():
                return
            yield f"piece {i}"

    items = pieces()

    def close():
        order.append("close")
        items.close()  # would raise "generator already executing" if run while a step runs
        closed.set()

    async def client_reads_one_piece_then_leaves():
        stream = drain(items, stopped.set, close)
        assert await stream.__anext__() == "piece 0"
        task = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)  # the next step is in flight
        assert running.is_set()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, StopAsyncIteration):
            pass
        await stream.aclose()

    started = time.perf_counter()
    asyncio.run(client_reads_one_piece_then_leaves())
    assert stopped.is_set() and time.perf_counter() - started < 1  # the client was not kept waiting
    assert closed.wait(2)
    assert order[-1] == "close" and order.count("close") == 1 and len(order) <= 4
