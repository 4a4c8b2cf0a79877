"""One provider and one SSO-enabled server per test module (tests/oidc/sso_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from awsomechat.seams import Embedder
from tests.oidc.sso_server import SsoServer, sso_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def sso(data_dir: Path, embedder: Embedder) -> Iterator[SsoServer]:
    with sso_server(data_dir, embedder, ARTIFACTS / "logs") as s:
        yield s
