"""The runner's kernel pool, with real kernels: what each notebook's kernel starts with, that each
runs one notebook only, and that none outlives the pool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from shopper_chat import runner
from shopper_chat._kernels import KernelPool, _top_level_imports, execute_notebook

PROBE = """\
import os, sys
print(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "flag": os.environ.get("POOL_FLAG"),
                  "colorsys loaded": "colorsys" in sys.modules,
                  "colorsys in namespace": "colorsys" in dir(),
                  "leftover": globals().get("LEFTOVER")}))
LEFTOVER = "from an earlier notebook"
"""


def _notebook(path: Path, *cells: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, str(path))
    return path


def _printed(path: Path) -> dict[str, object]:
    outputs = json.loads(path.read_text(encoding="utf-8"))["cells"][-1]["outputs"]
    return dict(json.loads("".join(outputs[0]["text"])))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by its parent) is gone too
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ", 1)[1][0] != "Z"


def test_top_level_imports_are_the_modules_a_notebook_imports_outside_any_block() -> None:
    document = {"cells": [
        {"cell_type": "markdown", "source": "import not_code"},
        {"cell_type": "code", "source": ["import random\n", "import os.path as p, json\n"]},
        {"cell_type": "code", "source": "from shopper_chat import transcripts\nfrom . import x"},
        {"cell_type": "code", "source": "%timeit import magic_module"},
        {"cell_type": "code", "source": "def f():\n    import inside_a_function\n"
                                        "try:\n    import optional\nexcept ImportError:\n    pass"},
        {"cell_type": "code", "source": "import random"},
    ]}
    assert _top_level_imports(document) == ["random", "os.path", "json", "shopper_chat"]


def test_each_notebook_gets_a_fresh_kernel_with_the_pools_env_cwd_and_preloads(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebooks = [_notebook(folder / f"nb{i}.ipynb", "import json", PROBE) for i in range(3)]
    env = {**os.environ, "POOL_FLAG": "from the pool"}
    pids = []
    with KernelPool(env, folder, notebooks, preload=("colorsys", "no_such_module_at_all")) as pool:
        pool.start()
        for notebook in notebooks:
            target = tmp_path / notebook.name
            execute_notebook(notebook, target, pool, progress_bar=False)
            seen = _printed(target)
            assert seen["cwd"] == str(folder.resolve())
            assert seen["flag"] == "from the pool"
            # imported as the kernel started, yet not a name the notebook did not define
            assert seen["colorsys loaded"] is True and seen["colorsys in namespace"] is False
            assert seen["leftover"] is None  # nothing carried over from the notebook before
            pids.append(int(str(seen["pid"])))
    assert len(set(pids)) == 3
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.parametrize(("packages", "early"), [(("wave",), True), ((), False)])
def test_a_notebooks_own_imports_come_early_only_from_the_packages_named(
    tmp_path: Path, packages: tuple[str, ...], early: bool
) -> None:
    """Importing a module before the cells that come first could change what it sees."""
    notebook = _notebook(tmp_path / "nb.ipynb", "import json, sys\n"
                         "print(json.dumps({'wave': 'wave' in sys.modules}))", "import wave")
    target = tmp_path / "out.ipynb"
    with KernelPool(dict(os.environ), tmp_path, [notebook], packages=packages) as pool:
        pool.start()
        execute_notebook(notebook, target, pool, progress_bar=False)
    cells = json.loads(target.read_text(encoding="utf-8"))["cells"]
    assert json.loads("".join(cells[0]["outputs"][0]["text"])) == {"wave": early}


def test_a_kernel_nobody_took_is_stopped_when_the_pool_closes(tmp_path: Path) -> None:
    notebooks = [_notebook(tmp_path / f"nb{i}.ipynb", "pass") for i in range(3)]
    pool = KernelPool(dict(os.environ), tmp_path, notebooks, ahead=2)
    pool.start()
    execute_notebook(notebooks[0], tmp_path / "out.ipynb", pool, progress_bar=False)
    waiting = [manager.provisioner.process.pid for manager in pool._waiting]  # type: ignore
    assert len(waiting) == 2  # topped up to `ahead` once the first kernel was ready
    pool.close()
    assert not any(_alive(pid) for pid in waiting)


def test_a_failing_cell_still_writes_the_notebook_and_stops_its_kernel(tmp_path: Path) -> None:
    import papermill

    notebook = _notebook(tmp_path / "fails.ipynb", PROBE.replace("import os", "import json, os"),
                         "raise ValueError('on purpose')")
    target = tmp_path / "out.ipynb"
    with KernelPool(dict(os.environ), tmp_path, [notebook]) as pool:
        pool.start()
        with pytest.raises(papermill.PapermillExecutionError, match="on purpose"):
            execute_notebook(notebook, target, pool, progress_bar=False)
    cells = [c for c in json.loads(target.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]  # papermill puts a markdown banner on top
    pid = json.loads("".join(cells[0]["outputs"][0]["text"]))["pid"]
    assert cells[1]["outputs"][0]["ename"] == "ValueError"
    assert not _alive(pid)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, runner.FROZEN_CLOCK_POLL_SECONDS),  # the embedded server's frozen clock
        ({"clock": ""}, None),  # a real clock: the notebook's own default window
    ],
)
def test_step_04_polls_once_on_the_embedded_servers_frozen_clock(
    tmp_path: Path, options: dict[str, object], expected: float | None
) -> None:
    plan = runner.plan_run(out=tmp_path, only=["04"], **options)  # type: ignore[arg-type]
    result = runner.execute(plan)
    assert result.ok, result.problems
    step = result.steps[-1]
    assert step.parameters.get("POLL_SECONDS") == expected
    printed = Path(result.folder / step.notebook).read_text(encoding="utf-8")  # type: ignore
    assert "new message" in printed and "stopped polling: timeout" in printed
