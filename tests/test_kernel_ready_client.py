"""The runner's kernel client: ready without jupyter_client's fixed IOPub wait, and no
output lost (issue 19, plan speed)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_runner import needs_kernel  # noqa: E402

from salesplan.reports.kernels import IOPUB_GAP, ready_client_class  # noqa: E402
from salesplan.reports.runner import _EnvKernelManager, _pick_kernel  # noqa: E402


async def _outputs_of_new_clients(km, rounds: int) -> list[tuple[str, float]]:
    """For each round: a new client made ready, then one cell printing the round's number;
    (the text the cell printed, the seconds wait_for_ready took)."""
    seen = []
    for i in range(rounds):
        kc = km.client()
        kc.start_channels()
        try:
            t0 = time.perf_counter()
            await kc.wait_for_ready(timeout=60)
            ready = time.perf_counter() - t0
            texts: list[str] = []
            reply = await kc.execute_interactive(
                f"print('round', {i})", timeout=60,
                output_hook=lambda m, texts=texts: texts.append(m["content"].get("text", ""))
                if m["msg_type"] == "stream" else None)
            assert reply["content"]["status"] == "ok"
            seen.append(("".join(texts), ready))
        finally:
            kc.stop_channels()
    return seen


@needs_kernel
def test_each_new_client_is_ready_at_once_and_gets_its_first_cells_output():
    km = _EnvKernelManager(kernel_name=_pick_kernel(None), extra_env={})
    assert isinstance(km.client(), ready_client_class())  # papermill's client too (km.client())

    async def run():
        await km.start_kernel()
        try:
            return await _outputs_of_new_clients(km, 8)
        finally:
            await km.shutdown_kernel(now=True)

    seen = asyncio.run(run())
    # every first cell's output arrived: the IOPub channel was connected when "ready"
    assert [text for text, _ in seen] == [f"round {i}\n" for i in range(8)]
    # jupyter_client's own client waits IOPUB_GAP (0.2 s) after every readiness; this one
    # stops at its request's idle status: most clients of a live kernel are ready well before
    fast = [ready for _, ready in seen[1:] if ready < IOPUB_GAP / 2]
    assert len(fast) >= 4, seen


@needs_kernel
def test_a_dead_kernel_is_reported_not_waited_for():
    km = _EnvKernelManager(kernel_name=_pick_kernel(None), extra_env={})

    async def run():
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            await km._async_kill_kernel()  # as an out-of-memory kill would
            await asyncio.sleep(0.2)
            with pytest.raises(RuntimeError, match="died"):
                await kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()
            await km.cleanup_resources()

    t0 = time.perf_counter()
    asyncio.run(run())
    assert time.perf_counter() - t0 < 25
