"""Benchmark 3: a full headless run of the notebooks (`shopper-chat run`, embedded development
server) against papermill running the same number of empty notebooks (the kernel-start floor).

    .venv/bin/python benchmarks/notebook_run.py [--pairs 5]

Both are timed as whole commands in their own process, alternately (A, B, A, B, ...):
`shopper-chat run --out <tmp>` (what `make run` does), and a `python -c` that runs papermill with
its defaults (the kernels' log level aside) on N one-cell notebooks (`pass`) one after the other,
N being the number of notebooks the run executes. The goal: the run at 1.0x the floor or less
(the median of the pairs' ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import sys, papermill
for path in sys.argv[1:]:
    papermill.execute_notebook(path, path + ".out.ipynb", progress_bar=False, log_output=False,
                               extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
"""


def _empty_notebooks(folder: Path, count: int) -> list[str]:
    import nbformat

    paths = []
    for i in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.cells.append(nbformat.v4.new_code_cell("pass"))
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        path = folder / f"empty_{i:02d}.ipynb"
        nbformat.write(notebook, str(path))
        paths.append(str(path))
    return paths


def _timed(command: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_")}
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    from _common import CLI, ROOT, machine
    from shopper_chat import runner

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    options = parser.parse_args()
    steps = runner.select_steps(runner.default_notebooks_dir(), None)
    print(f"machine: {machine()}")
    print(f"{len(steps)} notebooks per run: {', '.join(s.name for s in steps)}\n")
    runs: list[float] = []
    floors: list[float] = []
    per_step = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        empties = _empty_notebooks(folder, len(steps))
        for i in range(options.pairs):
            out = folder / f"run-{i}"
            runs.append(_timed([str(CLI), "run", "--out", str(out)], ROOT))
            summary = json.loads((out / "latest" / "summary.json").read_text())
            per_step.append({s["step"]: s["duration_s"] for s in summary["steps"]})
            floors.append(_timed([sys.executable, "-c", FLOOR, *empties], folder))
            print(f"pair {i + 1}: shopper-chat run {runs[-1]:.1f} s, "
                  f"papermill x{len(steps)} empty {floors[-1]:.1f} s, "
                  f"ratio {runs[-1] / floors[-1]:.2f}", flush=True)
    run, floor = statistics.median(runs), statistics.median(floors)
    ratios = [r / f for r, f in zip(runs, floors, strict=True)]
    print(f"\nmedian: run {run:.1f} s, floor {floor:.1f} s "
          f"({floor / len(steps):.2f} s per empty notebook); ratio per pair "
          f"{min(ratios):.2f}-{max(ratios):.2f}, median {statistics.median(ratios):.2f} "
          f"(goal: 1.0 or less)")
    print("per step, last run (s): " + ", ".join(f"{k} {v:.1f}" for k, v in per_step[-1].items()))


if __name__ == "__main__":
    main()
