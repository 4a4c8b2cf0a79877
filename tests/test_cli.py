"""The ``awsomechat`` command line as a user runs it (a real process, real store, real model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from awsomechat.settings import Settings
from awsomechat.store.migrate import available


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awsomechat", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {
        "AWSOMECHAT_DATA_DIR": str(settings.data_dir),
        "AWSOMECHAT_DATABASE__NAME": settings.database.name,
    }


def test_config_masks_secrets_and_names_bad_settings(tmp_path: Path) -> None:
    env = {
        "AWSOMECHAT_DATA_DIR": str(tmp_path),
        "AWSOMECHAT_DATABASE__URL": "postgresql://app:hunter2@db.internal/chat",
    }
    out = _cli(env, "config")
    assert out.returncode == 0, out.stderr
    assert "hunter2" not in out.stdout and "**********" in out.stdout
    assert "bm25_k1 = 0.9" in out.stdout

    bad = _cli({**env, "AWSOMECHAT_RETRIEVAL__BM25_B": "7"}, "config")
    assert bad.returncode == 2
    assert "AWSOMECHAT_RETRIEVAL__BM25_B" in bad.stderr

    toml = tmp_path / "my.toml"
    toml.write_text("[retrieval]\nrrf_k = 42\n")
    from_file = _cli({**env, "AWSOMECHAT_CONFIG_FILE": str(toml)}, "config", "--json")
    assert json.loads(from_file.stdout)["retrieval"]["rrf_k"] == 42


def test_unreachable_database_says_what_to_do(tmp_path: Path) -> None:
    env = {
        "AWSOMECHAT_DATA_DIR": str(tmp_path),
        "AWSOMECHAT_DATABASE__URL": "postgresql://u:secretpw@127.0.0.1:1/none",
        "AWSOMECHAT_DATABASE__CONNECT_TIMEOUT_S": "2",
    }
    out = _cli(env, "search", "anything", "--mode", "bm25")
    assert out.returncode == 1
    assert "cannot connect to PostgreSQL" in out.stderr
    assert "AWSOMECHAT_DATABASE__URL" in out.stderr
    assert "secretpw" not in out.stderr + out.stdout


def test_db_start_status_stop(tmp_path: Path) -> None:
    env = {"AWSOMECHAT_DATA_DIR": str(tmp_path / "own")}
    assert _cli(env, "db", "status").returncode == 3  # nothing there yet
    started = _cli(env, "db", "start")
    assert started.returncode == 0, started.stderr
    status = _cli(env, "db", "status")
    assert (
        status.returncode == 0
        and "running: True" in status.stdout
        and f"schema version: {len(available())}" in status.stdout
    )
    stop = _cli(env, "db", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert _cli(env, "db", "status").returncode == 3


def test_ingest_search_docs_roundtrip(env: dict[str, str], tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "vpn.md").write_text(
        "# Site-to-site VPN\n\nEach VPN tunnel supports up to 1.25 Gbps of bandwidth.\n"
    )
    (kb / "faq.csv").write_text(
        "question,answer\nHow many tunnels per VPN?,Two tunnels per VPN connection.\n"
    )
    (kb / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    out = _cli(env, "ingest", str(kb), "--attr", "team=network", "--groups", "netops")
    assert out.returncode == 1  # one file failed
    assert "2 added" in out.stdout and "1 failed" in out.stdout and "broken.pdf" in out.stdout

    public = _cli(env, "search", "VPN tunnel bandwidth", "--json")
    assert public.returncode == 0 and public.stdout.strip() == ""  # restricted to netops
    found = _cli(env, "search", "VPN tunnel bandwidth", "--json", "--groups", "netops", "-f", "team=network")
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert hits[0]["title"] == "Site-to-site VPN" and hits[0]["attributes"] == {"team": "network"}

    listed = [json.loads(line) for line in _cli(env, "docs", "list", "--json").stdout.splitlines()]
    assert {d["title"] for d in listed} >= {"Site-to-site VPN"}
    vpn = next(d for d in listed if d["title"] == "Site-to-site VPN")
    shown = _cli(env, "docs", "show", str(vpn["id"]), "--passages")
    assert "1.25 Gbps" in shown.stdout and "netops" in shown.stdout
    assert _cli(env, "docs", "delete", str(vpn["id"]), "-y").returncode == 0
    assert _cli(env, "docs", "show", str(vpn["id"])).returncode == 1


def test_eval_retrieval_on_a_small_beir_dataset(env: dict[str, str], tmp_path: Path) -> None:
    ds = tmp_path / "tiny"
    (ds / "qrels").mkdir(parents=True)
    topics = [
        "volcano eruption lava",
        "chess opening gambit",
        "sourdough bread starter",
        "solar panel inverter",
    ]
    corpus = [
        {"_id": f"d{i}", "title": t.title(), "text": f"An article about {t}. " * 5}
        for i, t in enumerate(topics)
    ]
    (ds / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    queries = [{"_id": f"q{i}", "text": t.split()[0] + " " + t.split()[1]} for i, t in enumerate(topics)]
    (ds / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (ds / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(4))
    )
    out = _cli(env, "eval", "retrieval", "--dataset", str(ds))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dataset"] == "tiny"
    for mode in ("bm25", "dense", "hybrid"):
        assert set(result[mode]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert result[mode]["mrr@10"] == 1.0
    again = _cli(env, "eval", "retrieval", "--dataset", str(ds), "--modes", "bm25")
    assert "0 added" in again.stdout and "4 unchanged" in again.stdout


def test_up_ingests_into_an_empty_store_then_reuses_it(env: dict[str, str], tmp_path: Path) -> None:
    kb = tmp_path / "sample"
    kb.mkdir()
    (kb / "kendra.md").write_text(
        "# Adding documents\n\nAdd documents to an Amazon Kendra index with BatchPutDocument.\n"
    )
    (kb / "README.md").write_text("# About this sample\n\nNot a document to ingest.\n")
    small = {**env, "AWSOMECHAT_LLM__MODEL": "small", "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "24"}
    first = _cli(
        small, "up", "--no-serve", "--sample", str(kb), "--ask", "How do I add documents to a Kendra index?"
    )
    assert first.returncode == 0, first.stderr
    assert "store is empty" in first.stdout and "1 added" in first.stdout
    assert "Adding documents" in first.stdout  # the sample search found it
    assert "SmolLM2" in first.stdout  # and the (small) model answered the sample question
    second = _cli(env, "up", "--no-serve", "--sample", str(kb), "--ask", "")
    assert "store holds 1 documents" in second.stdout and "added" not in second.stdout


def test_ask_and_reply_stream_answers_with_sources(env: dict[str, str], tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "quotas.md").write_text(
        "# GuardDuty quotas\n\nYou can create up to 100 saved filters per account per Region.\n"
    )
    small = {**env, "AWSOMECHAT_LLM__MODEL": "small", "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "24"}
    assert _cli(small, "ingest", str(kb)).returncode == 0
    asked = _cli(small, "ask", "How many saved filters can I create in GuardDuty?")
    assert asked.returncode == 0, asked.stderr
    assert "SmolLM2" in asked.stdout and "session" in asked.stdout
    off = _cli(small, "ask", "Who wrote the novel War and Peace?")
    assert "not covered by the documents" in off.stdout and "no model call" in off.stdout
    email = "Hello,\nhow many saved filters can we create per Region in GuardDuty?\nThanks, Ann\n"
    replied = subprocess.run(
        [sys.executable, "-m", "awsomechat", "reply", "-"], input=email, env={**os.environ, **small},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert replied.returncode == 0, replied.stderr
    assert "GuardDuty quotas" in replied.stdout  # the cited source is listed


def test_up_serves_the_api_with_a_printed_url_and_key(env: dict[str, str], tmp_path: Path) -> None:
    import re
    import socket
    import time

    import httpx

    kb = tmp_path / "sample"
    kb.mkdir()
    (kb / "ses.md").write_text("# SES sending quota\n\nNew SES accounts can send 200 messages per day.\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    small = {**env, "AWSOMECHAT_LLM__MODEL": "small", "AWSOMECHAT_API__PORT": str(port), "COLUMNS": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsomechat", "up", "--sample", str(kb)],
        env={**os.environ, **small},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = ""
        deadline = time.monotonic() + 180
        while "admin API key" not in printed and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            printed += line
        assert "1 added" in printed, printed
        url = re.search(r"web UI and API: (http://\S+)", printed)
        key = re.search(r"admin API key:\s+(awc_\S+)", printed)
        assert url and key, printed
        assert url.group(1) == f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url.group(1)}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        hits = httpx.post(f"{url.group(1)}/v1/query", json={"query": "SES sending quota"}, headers=headers)
        assert hits.status_code == 200 and hits.json()["results"][0]["title"] == "SES sending quota"
        assert (Path(env["AWSOMECHAT_DATA_DIR"]) / "admin.key").stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_users_and_keys_commands(env: dict[str, str], settings: Settings) -> None:
    import re

    from awsomechat.auth.keys_pg import PgKeyStore
    from awsomechat.container import Container
    from awsomechat.errors import AuthenticationError

    added = _cli(env, "users", "add", "dana", "--groups", "finance,hr")
    assert added.returncode == 0, added.stderr
    assert "groups: finance, hr" in added.stdout
    key = re.search(r"(awc_\S+)", added.stdout)
    assert key
    again = _cli(env, "users", "add", "dana")
    assert again.returncode == 1 and "already exists" in again.stderr
    second = re.search(r"(awc_\S+)", _cli(env, "keys", "create", "dana", "--name", "ci").stdout)
    assert second
    listed = _cli(env, "keys", "list").stdout
    assert key.group(1)[4:12] in listed and key.group(1) not in listed and second.group(1) not in listed
    assert "dana" in _cli(env, "users", "list").stdout
    with Container(settings) as c:
        store = PgKeyStore(c.database)
        principal = store.authenticate(key.group(1)).principal
        assert principal.user_id == "dana" and principal.groups == {"finance", "hr"} and not principal.admin
        assert _cli(env, "keys", "revoke", key.group(1)[4:12]).returncode == 0
        with pytest.raises(AuthenticationError):
            store.authenticate(key.group(1))
        assert store.authenticate(second.group(1)).principal.user_id == "dana"
        assert _cli(env, "users", "update", "dana", "--disable").returncode == 0
        with pytest.raises(AuthenticationError):
            store.authenticate(second.group(1))
    missing = _cli(env, "keys", "create", "nobody")
    assert missing.returncode == 1 and "users add nobody" in missing.stderr
