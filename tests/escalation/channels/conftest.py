"""Fixtures for the channel tests: test certificates and real servers on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from channelkit import Certs, HttpRecorder, make_certs


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP channels honour *_proxy variables; the test servers are local."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make test certificates (apt-get install openssl)")
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def http_server() -> Iterator[HttpRecorder]:
    with HttpRecorder() as server:
        yield server


@pytest.fixture
def https_server(certs: Certs) -> Iterator[HttpRecorder]:
    with HttpRecorder(tls=certs.server_context()) as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
