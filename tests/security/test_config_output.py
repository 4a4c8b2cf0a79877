"""``awsomechat config`` prints what is configured, verbatim (issue 11, finding 5).

Rich read ``[database]`` section headers (and any ``[...]`` in a value or path) as console
markup and dropped them, so the printed configuration lost its sections.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.security


def test_config_keeps_section_headers_and_bracketed_values(tmp_path: Path) -> None:
    odd = tmp_path / "[cfg]"
    odd.mkdir()
    toml = odd / "my.toml"
    toml.write_text('[api]\nlocal_user = "[bold red]me[/]"\n')
    env = {
        **os.environ,
        "COLUMNS": "200",
        "AWSOMECHAT_DATA_DIR": str(tmp_path),
        "AWSOMECHAT_CONFIG_FILE": str(toml),
    }
    out = subprocess.run(
        [sys.executable, "-m", "awsomechat", "config"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    headers = [line for line in lines if line.startswith("[")]
    assert headers[:3] == ["[database]", "[embedder]", "[chunking]"]
    assert {"[llm]", "[chat]", "[api]", "[retrieval.reranker]"} <= set(headers)
    assert 'local_user = "[bold red]me[/]"' in lines
    assert f"# config file: {toml}" in out.stdout
