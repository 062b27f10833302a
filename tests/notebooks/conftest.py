"""Fixtures for the notebooks and `shopper-chat run`: one embedded run shared by several tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from notebook_runs import Run
from support import CONNECT_ENV


@pytest.fixture(scope="session")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One full run against the embedded development server, in this process so that the tokens
    the server hands out can be captured (for the test that looks for them in the run's files)."""
    from shopper_chat import runner
    from shopper_chat.devserver.models import ConnectBackend

    tokens: list[str] = []
    original = ConnectBackend.create_token

    def capture(self: ConnectBackend, **kwargs: Any) -> dict[str, Any]:
        answer = original(self, **kwargs)
        tokens.append(str(answer["access_token"]))
        return answer

    out = tmp_path_factory.mktemp("embedded")
    echo = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in CONNECT_ENV:
            patch.delenv(name, raising=False)
        patch.setattr(ConnectBackend, "create_token", capture)
        result = runner.run(out=out, stream=echo)
    yield Run(folder=result.folder, returncode=0 if result.ok else 1, output=echo.getvalue(),
              tokens=tokens)
