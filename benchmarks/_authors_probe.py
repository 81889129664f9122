"""Runs the authors' unmodified ``inference_propainter.py`` (in the current folder, a checkout
of sczhou/ProPainter) and prints one JSON line: seconds, seconds by stage, the time at which
the first frame is final, and peak RSS.

    python _authors_probe.py THREADS -- ARGS OF inference_propainter.py

The stages are timed by wrapping the methods the script calls (RAFT_bi.forward, the flow
completion network's forward_bidirect_flow and combine_flow, the generator's img_propagation
and forward); their code is not changed. A frame is final once the last generator window
that holds it is done: windows start every ``neighbor_length // 2`` frames and frame 0 is in
the first two (the script keeps every frame in memory and writes them all at the end).
"""

from __future__ import annotations

import functools
import json
import resource
import runpy
import sys
import time


def main() -> None:
    threads = int(sys.argv[1])
    script_args = sys.argv[sys.argv.index("--") + 1:]
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, ".")
    from model.modules.flow_comp_raft import RAFT_bi
    from model.propainter import InpaintGenerator
    from model.recurrent_flow_completion import RecurrentFlowCompleteNet

    stages = {"raft": 0.0, "flow_completion": 0.0, "propagation": 0.0, "transformer": 0.0}
    windows: list[float] = []
    t0 = time.perf_counter()

    def timed(cls, name: str, stage: str) -> None:
        method = getattr(cls, name)

        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                end = time.perf_counter()
                stages[stage] += end - start
                if stage == "transformer":
                    windows.append(end - t0)

        setattr(cls, name, wrapper)

    timed(RAFT_bi, "forward", "raft")
    timed(RecurrentFlowCompleteNet, "forward_bidirect_flow", "flow_completion")
    timed(RecurrentFlowCompleteNet, "combine_flow", "flow_completion")
    timed(InpaintGenerator, "img_propagation", "propagation")
    timed(InpaintGenerator, "forward", "transformer")
    sys.argv = ["inference_propainter.py"] + script_args
    t0 = time.perf_counter()
    runpy.run_path("inference_propainter.py", run_name="__main__")
    seconds = time.perf_counter() - t0
    first = windows[min(1, len(windows) - 1)] if windows else seconds
    print("RESULT " + json.dumps({
        "seconds": seconds, "stages": stages, "first_frame": first,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
