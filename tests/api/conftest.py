"""A live server per test module, with a small corpus: public documents and one for ``finance``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from awsomechat.container import Container
from awsomechat.seams import Embedder
from tests.helpers import ingest_texts
from tests.live import LiveServer, live_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PUBLIC_DOCS = {
    "lambda.md": "# Lambda quotas\n\nThe maximum deployment package size for AWS Lambda is 50 MB zipped"
    " and 250 MB unzipped. Container images can be up to 10 GB.\n",
    "vpn.md": "# Site-to-site VPN\n\nEach VPN tunnel supports up to 1.25 Gbps of bandwidth. A virtual private"
    " gateway can have up to 10 VPN connections.\n",
}
FINANCE_DOCS = {
    "payroll.md": "# Payroll calendar\n\nSalaries at Octank are paid on the 25th of every month by bank"
    " transfer. The payroll team closes the books on the 20th.\n",
}


def seed(c: Container) -> None:
    ingest_texts(c, PUBLIC_DOCS, attributes={"service": "aws"})
    ingest_texts(
        c, FINANCE_DOCS, groups=("finance",), attributes={"team": "finance"}, source="test://finance"
    )


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
        yield s
