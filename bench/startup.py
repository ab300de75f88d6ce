"""Time to dltui's first frame against the time of ``python -c "import torch"``.

The target: the first frame appears in at most a third of the time torch takes to
import, because the UI never waits for torch. Both commands run alternately in fresh
processes (same machine, same moment: the ratio survives a noisy machine), the app in a
pseudo-terminal so that Textual draws for real; the app writes the time of its first
painted frame to a file (``DLTUI_FIRST_FRAME_FILE``) and exits.

    python bench/startup.py [--runs N] [--json PATH]

``--json PATH`` also writes the figure for ``bench/run_all.py`` (``bench/common.py``).
"""

from __future__ import annotations

import argparse
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_import_torch() -> float:
    start = time.time()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.time() - start


def time_first_frame() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "first-frame"
        env = dict(
            os.environ,
            DLTUI_FIRST_FRAME_FILE=str(marker),
            DLTUI_EXIT_AFTER_FIRST_FRAME="1",
            DLTUI_DATA_DIR=tmp,
            COLUMNS="100",
            LINES="30",
        )
        master, slave = pty.openpty()
        start = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "--device", "cpu"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        # Drain the terminal so the app never blocks on a full pty buffer.
        while proc.poll() is None:
            try:
                import select

                ready, _, _ = select.select([master], [], [], 0.05)
                if ready:
                    os.read(master, 65536)
            except OSError:
                break
        os.close(master)
        if not marker.exists():
            raise RuntimeError("the app exited without reporting a first frame")
        return float(marker.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", default=None, help="write the figure here (for run_all)")
    args = parser.parse_args()
    torch_times, frame_times = [], []
    time_import_torch()  # warm the file cache for both
    time_first_frame()
    for _ in range(args.runs):
        torch_times.append(time_import_torch())
        frame_times.append(time_first_frame())
    t = statistics.median(torch_times)
    f = statistics.median(frame_times)
    print(f"startup, median of {args.runs} alternating runs")
    print(f"  baseline  python -c 'import torch'   {t * 1000:7.0f} ms   1.00")
    print(
        f"  dltui     first frame               {f * 1000:7.0f} ms   {f / t:.2f}  (target <= 0.33)"
    )
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from common import Figure, write_figures

        figure = Figure(
            "startup: first frame",
            t * 1000,
            f * 1000,
            "ms",
            "import torch",
            "<= 0.33x",
            f / t <= 0.33 if args.runs > 1 else None,
            note=f"median of {args.runs} alternating runs",
            group="startup",
        )
        write_figures(args.json, [figure])


if __name__ == "__main__":
    main()
