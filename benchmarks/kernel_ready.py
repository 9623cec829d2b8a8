"""A kernel client made ready: jupyter_client's own client against the runner's (issue 19 item 1).

    python benchmarks/kernel_ready.py                 # 15 clients of each, alternated
    python benchmarks/kernel_ready.py --clients 30

Method
------
One kernel of the runner's kind (``salesplan``, else ``python3``) is started, then new
clients are made one after the other, alternating jupyter_client's ``AsyncKernelClient``
(the reference) and :func:`salesplan.reports.kernels.ready_client_class` (the runner's).
For each: ``start_channels``, ``wait_for_ready`` and one silent execute with its reply --
what the runner does for a kernel's warm-up, emptying and reuse (``kernels._run_silently``)
and, without the execute, what papermill's client does before a notebook's first cell.
Seconds are ``time.perf_counter`` around it (the machine's load is printed: it is wall
time).  The table gives medians and the ratio new / reference, in this one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time


async def _one_client(km, factory) -> float:
    km.client_factory = factory
    t0 = time.perf_counter()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        reply = await kc.execute("pass", silent=True, store_history=False, reply=True, timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
    return time.perf_counter() - t0


async def _measure(clients: int) -> dict[str, list[float]]:
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    from salesplan.reports.kernels import ready_client_class
    from salesplan.reports.runner import _pick_kernel

    km = AsyncKernelManager(kernel_name=_pick_kernel(None))
    await km.start_kernel()
    kinds = {"jupyter_client AsyncKernelClient": AsyncKernelClient,
             "salesplan ready_client_class()": ready_client_class()}
    seconds: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        await _one_client(km, AsyncKernelClient)  # the kernel's own start out of the figures
        for i in range(clients):
            order = list(kinds) if i % 2 == 0 else list(reversed(kinds))
            for name in order:
                seconds[name].append(await _one_client(km, kinds[name]))
    finally:
        await km.shutdown_kernel(now=True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=15, help="clients of each kind (default 15)")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    seconds = asyncio.run(_measure(args.clients))
    ref, new = (statistics.median(v) for v in seconds.values())
    print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; {args.clients} clients of each, alternated\n")
    print("| client | median s (ready + one silent execute) | min | max |")
    print("|---|---:|---:|---:|")
    for name, vals in seconds.items():
        print(f"| {name} | {statistics.median(vals):.4f} | {min(vals):.4f} | {max(vals):.4f} |")
    print(f"\nratio new / reference: {new / ref:.3f} (saved {ref - new:.3f} s per client)")


if __name__ == "__main__":
    main()
