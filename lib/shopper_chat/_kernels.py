"""Kernels started ahead of the notebooks that use them, behind papermill's engine API.

A headless run executes its notebooks one after the other, each in a kernel of its own. Starting a
kernel (a Python process importing IPython, then answering its first request) takes about a
second, and stopping one politely can take seconds more. The runner keeps a `KernelPool`: the next
notebooks' kernels boot while the current notebook runs, and a papermill engine of its own (see
`execute_notebook`) runs each notebook in a kernel taken from the pool, then stops that kernel at
once. Every kernel still runs exactly one notebook, with nothing left from another.

    with KernelPool(env, cwd, notebooks, packages=["shopper_chat"]) as pool:
        pool.start()  # the first kernel boots while this process imports papermill
        for notebook in notebooks:
            execute_notebook(notebook, target, pool, parameters={...})
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

__all__ = ["KernelPool", "execute_notebook"]

ENGINE = "shopper-chat-pooled"

KERNEL_ARGUMENTS = (
    # the kernel's own start-up notices would interleave with the runner's progress lines
    "--IPKernelApp.log_level=CRITICAL",
    # what nbclient gives the kernels it starts itself: no history file written per run
    "--HistoryManager.hist_file=:memory:",
)


def _top_level_imports(document: Mapping[str, Any]) -> list[str]:
    """The absolute modules a notebook's code cells import outside any block, in order."""
    modules: list[str] = []
    for cell in document.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:  # IPython syntax (magics): not Python, nothing to learn from it
            continue
        for statement in tree.body:
            if isinstance(statement, ast.Import):
                found = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
                found = [str(statement.module)]
            else:
                continue
            modules += [m for m in found if m not in modules]
    return modules


class KernelPool:
    """Kernels for a sequence of notebooks, launched ahead of use and each handed out once.

    The pool launches kernels for `notebooks` in order, keeping `ahead` of them launched and not
    yet taken: that many boot while a notebook runs. Each starts with `env`, in `cwd`, and imports
    as it starts the modules of `preload`, and those of `packages` that its notebook's cells import
    at top level (into `sys.modules`, not into the notebook's namespace; a module that fails to
    import is left for the notebook to report). Other imports keep their place in the notebook:
    a module imported earlier than the notebook says could see another state (an environment
    variable, a parameter a cell sets), so only packages known to import without side effects are
    named. A kernel goes to the next notebook run with its kernel name, so a skipped notebook's
    kernel serves the one after it.
    """

    def __init__(self, env: Mapping[str, str], cwd: Path, notebooks: Sequence[Path], *,
                 ahead: int = 2, preload: Sequence[str] = (),
                 packages: Sequence[str] = ()) -> None:  # fmt: skip
        self.env = dict(env)
        self.cwd = str(cwd.resolve())
        self.ahead = ahead
        self.preload = tuple(preload)
        self.packages = tuple(packages)
        self._to_launch = [_read(notebook) for notebook in notebooks]
        self._waiting: list[AsyncKernelManager] = []

    def start(self) -> None:
        """Launch the first notebook's kernel alone (so that nothing slows the one the run waits
        for); the next ones follow once it is ready. Returns once its process exists."""
        if self._to_launch and not self._waiting:
            run_sync(self._launch)(self._to_launch.pop(0))

    async def top_up(self, **_: Any) -> None:
        """Launch kernels until `ahead` of them wait: the notebook client's hook for when its
        kernel is ready, so that the next kernels boot while that notebook runs."""
        while self._to_launch and len(self._waiting) < self.ahead:
            await self._launch(self._to_launch.pop(0))

    def take(self, name: str, document: Mapping[str, Any]) -> AsyncKernelManager:
        """A waiting kernel of that name, else one launched now for `document`."""
        for manager in self._waiting:
            if manager.kernel_name == name:
                self._waiting.remove(manager)
                return manager
        if self._to_launch:
            self._to_launch.pop(0)  # this notebook's own kernel, launched now rather than later
        run_sync(self._launch)(document, name)
        return self._waiting.pop()

    async def _launch(self, document: Mapping[str, Any], name: str | None = None) -> None:
        arguments = list(KERNEL_ARGUMENTS)
        imported = [m for m in _top_level_imports(document) if m.split(".")[0] in self.packages]
        modules = dict.fromkeys([*imported, *self.preload])
        if modules:
            code = "".join(f"try:\n import {m}\nexcept Exception:\n pass\n" for m in modules)
            arguments.append(f"--IPKernelApp.exec_lines=exec({code!r}, {{}})")
        manager = AsyncKernelManager(kernel_name=name or _kernel_name(document))
        await manager.start_kernel(env=dict(self.env), cwd=self.cwd, extra_arguments=arguments)
        self._waiting.append(manager)

    def close(self) -> None:
        """Stop the kernels nobody took (a step skipped, the run stopped early)."""
        self._to_launch.clear()
        while self._waiting:
            manager = self._waiting.pop()
            with contextlib.suppress(Exception):
                run_sync(manager.shutdown_kernel)(now=True)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(notebook: Path) -> dict[str, Any]:
    return dict(json.loads(notebook.read_text(encoding="utf-8")))


def _kernel_name(document: Mapping[str, Any]) -> str:
    """The kernel a notebook asks for in its metadata, as papermill reads it."""
    return str(document.get("metadata", {}).get("kernelspec", {}).get("name") or "python3")


def execute_notebook(source: Path, target: Path, pool: KernelPool, **options: Any) -> Any:
    """`papermill.execute_notebook`, in a kernel taken from `pool` and stopped at once after."""
    import papermill

    return papermill.execute_notebook(str(source), str(target), engine_name=_engine(),
                                      kernel_pool=pool, **options)


@functools.cache
def _engine() -> str:
    """Register the engine with papermill (on first use: papermill takes a second to import)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class OneNotebookClient(PapermillNotebookClient):  # type: ignore[misc]
        """papermill's notebook client on a kernel from the pool, which it stops when done."""

        def __init__(self, nb_man: Any, km: AsyncKernelManager, **kw: Any) -> None:
            super().__init__(nb_man, km=km, shutdown_kernel="immediate", **kw)
            # nbclient stops only the kernels it started; this one was the notebook's alone
            self.owns_km = True

    class PooledEngine(NBClientEngine):  # type: ignore[misc]
        """papermill's nbclient engine, running the notebook in a kernel from `kernel_pool`."""

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            *,
            kernel_pool: KernelPool,
            log_output: bool = False,
            start_timeout: float = 60,
            execution_timeout: float | None = None,
            stdout_file: Any = None,
            stderr_file: Any = None,
            **kwargs: Any,
        ) -> Any:
            client = OneNotebookClient(
                nb_man,
                kernel_pool.take(kernel_name, nb_man.nb),
                on_notebook_start=kernel_pool.top_up,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return client.execute()

    papermill_engines.register(ENGINE, PooledEngine)
    return ENGINE
