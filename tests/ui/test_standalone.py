"""The web UI deployed on its own: its files served by a plain static web server on another
origin, pointed at the API with the ``awsomechat-api`` meta tag, the API allowing that origin."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from awsomechat.api.app import web_root
from awsomechat.seams import Embedder
from tests.live import LiveServer, free_port, live_server
from tests.ui.conftest import ARTIFACTS, UI_ENV, VPN_Q, ask, seed, shot

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A copy of the UI on a plain HTTP server (as nginx or a CDN bucket would serve it)."""
    root = web_root()
    assert root is not None, "the web UI is not packaged"
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(root, site, dirs_exist_ok=True)
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", site
    httpd.shutdown()


@pytest.fixture(scope="module")
def api_for_site(data_dir: Path, embedder: Embedder, static_site: tuple[str, Path]) -> Iterator[LiveServer]:
    origin, site = static_site
    env = {**UI_ENV, "AWSOMECHAT_API__CORS_ORIGINS": json.dumps([origin]), "AWSOMECHAT_API__UI": "false"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env, setup=seed) as s:
        index = site / "index.html"
        html = index.read_text(encoding="utf-8")
        index.write_text(
            html.replace('name="awsomechat-api" content=""', f'name="awsomechat-api" content="{s.url}"')
        )
        yield s


def test_ui_on_another_origin_talks_to_the_api(
    api_for_site: LiveServer, static_site: tuple[str, Path], page: Page
) -> None:
    origin, _ = static_site
    key = api_for_site.create_user("remote-user")
    page.goto(origin)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator("#who")).to_have_text("remote-user")
    answer = ask(page, VPN_Q)
    expect(answer.locator(".source-chip .chip-title").first).to_have_text("Site-to-site VPN")
    shot(page, "standalone-origin")


def test_the_api_refuses_other_origins(api_for_site: LiveServer) -> None:
    import httpx

    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(f"{api_for_site.url}/v1/chat", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    assert httpx.get(f"{api_for_site.url}/").status_code in (307, 404)  # the API alone serves no UI
