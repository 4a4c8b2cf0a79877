"""Shared fixtures: one embedded PostgreSQL server per test session, a fresh database per test,
and the real packaged embedding model loaded once."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

# Tests must not pick up a developer's own configuration.
for _key in [k for k in os.environ if k.startswith("AWSOMECHAT_")]:
    del os.environ[_key]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from awsomechat.container import Container  # noqa: E402
from awsomechat.seams import ChatModel, Embedder  # noqa: E402
from awsomechat.settings import ChatSettings, DatabaseSettings, EmbedderSettings, Settings  # noqa: E402
from awsomechat.store import embedded  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # Not under pytest's basetemp: pytest deletes all but its 3 newest basetemps, which would pull
    # the data directory from under a running server if another pytest session starts meanwhile.
    path = Path(tempfile.mkdtemp(prefix="awsomechat-test-"))
    yield path
    embedded.stop(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    from awsomechat.embed import build_embedder

    return build_embedder(EmbedderSettings())


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(data_dir: Path, db_name: str) -> Settings:
    # Plumbing tests run the small model, whose sentences seldom survive the answer check: it is off
    # here, and the tests of answers (test_verify.py, test_answers_default_model.py) turn it on.
    return Settings(
        data_dir=data_dir,
        database=DatabaseSettings(name=db_name, pool_max=4),
        chat=ChatSettings(verify="off"),
    )


@pytest.fixture
def container(settings: Settings, embedder: Embedder) -> Iterator[Container]:
    c = Container(settings, embedder=embedder)
    yield c
    c.close()
    uri = embedded.start(settings.data_dir, "postgres")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.database.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def small_model() -> ChatModel:
    """The packaged SmolLM2-135M: fast, answers poorly; for plumbing, not quality."""
    from awsomechat.chat.models.llamacpp import LlamaCppChatModel
    from awsomechat.chat.models.packaged import small_model_path
    from awsomechat.settings import LlamaCppSettings

    return LlamaCppChatModel(
        small_model_path(), LlamaCppSettings(model="small", n_ctx=2048, max_answer_tokens=48)
    )
