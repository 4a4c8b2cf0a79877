"""An AWSomeChat server with single sign-on against the real test provider (``provider.py``).

The server's port is chosen first, because the provider must know the callback URL it registers
for the web client; then the provider starts, then ``awsomechat serve`` with ``auth.oidc`` set.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from awsomechat.container import Container
from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings, Settings
from awsomechat.store import embedded
from tests.helpers import ingest_texts
from tests.live import SMALL_MODEL_ENV, LiveServer, free_port, launch
from tests.oidc.provider import API_AUDIENCE, WEB_CLIENT_ID, OidcProvider

ADMIN_GROUP = "awsomechat-admins"
PAYROLL_Q = "On which day are salaries at Octank paid?"
PUBLIC_DOCS = {
    "vpn.md": "# Site-to-site VPN\n\nEach site-to-site VPN tunnel supports up to 1.25 Gbps of bandwidth. A"
    " virtual private gateway can have up to 10 VPN connections.\n",
}
FINANCE_DOCS = {
    "payroll.md": "# Payroll calendar\n\nSalaries at Octank are paid on the 25th day of every month by bank"
    " transfer. The payroll team closes the books on the 20th.\n",
}


def seed(c: Container) -> None:
    ingest_texts(c, PUBLIC_DOCS)
    ingest_texts(c, FINANCE_DOCS, groups=("finance",), source="test://finance")


@dataclass
class SsoServer:
    server: LiveServer
    provider: OidcProvider

    @property
    def url(self) -> str:
        return self.server.url


def sso_env(provider: OidcProvider, callback: str, secret: str) -> dict[str, str]:
    return {
        "AWSOMECHAT_AUTH__OIDC__ISSUER": provider.issuer,
        "AWSOMECHAT_AUTH__OIDC__CLIENT_ID": WEB_CLIENT_ID,
        "AWSOMECHAT_AUTH__OIDC__CLIENT_SECRET": secret,
        "AWSOMECHAT_AUTH__OIDC__SCOPES": json.dumps(["openid", "profile", "email", "groups"]),
        "AWSOMECHAT_AUTH__OIDC__REDIRECT_URLS": json.dumps([callback]),
        "AWSOMECHAT_AUTH__OIDC__AUDIENCES": json.dumps([API_AUDIENCE]),
        "AWSOMECHAT_AUTH__OIDC__ADMIN_GROUP": ADMIN_GROUP,
        "AWSOMECHAT_AUTH__OIDC__PROVIDER_NAME": "Test IdP",
        # Expiry tests wait for a token to run out: a second of clock skew, not a minute.
        "AWSOMECHAT_AUTH__OIDC__LEEWAY_S": "1",
        # Key rotation tests rotate within seconds of the first fetch.
        "AWSOMECHAT_AUTH__OIDC__JWKS_REFRESH_MIN_S": "0",
    }


@contextmanager
def sso_server(
    data_dir: Path, embedder: Embedder, log_dir: Path, *, env: dict[str, str] | None = None
) -> Iterator[SsoServer]:
    """The provider and a server using it, on a fresh database with public and finance documents."""
    log_dir.mkdir(parents=True, exist_ok=True)
    db_name = f"sso_{uuid.uuid4().hex[:10]}"
    port = free_port()
    callback = f"http://127.0.0.1:{port}/auth/oidc/callback"
    secret = secrets.token_urlsafe(24)
    workdir = log_dir / f"oidc-{db_name}"
    workdir.mkdir()
    provider = OidcProvider(workdir, free_port(), callback, secret, log_dir / f"oidc-provider-{db_name}.log")
    settings = Settings(data_dir=data_dir, database=DatabaseSettings(name=db_name, pool_max=4))
    container = Container(settings, embedder=embedder)
    full_env = {
        "AWSOMECHAT_DATA_DIR": str(data_dir),
        "AWSOMECHAT_DATABASE__NAME": db_name,
        "AWSOMECHAT_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        **SMALL_MODEL_ENV,
        **sso_env(provider, callback, secret),
        **(env or {}),
    }
    server = LiveServer("", container, full_env, log_dir / f"server-{db_name}.log")
    try:
        provider.start()
        server.admin_key = server.create_user("admin", admin=True)
        seed(container)
        proc, server.url = launch(full_env, server.log_path, port=port)
        server.procs.append(proc)
        yield SsoServer(server, provider)
    finally:
        server.stop()
        provider.stop()
        container.close()
        uri = embedded.start(data_dir, "postgres")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def browser_login(
    sso: SsoServer, username: str, client: httpx.Client | None = None
) -> tuple[httpx.Client, str]:
    """Sign in through the web flow with an HTTP client that keeps cookies, as a browser would:
    AWSomeChat -> the provider's form -> the callback -> the web UI. Returns the client and the
    web UI address it landed on (``/?sso_error=...`` when the sign-in failed)."""
    client = client or httpx.Client(base_url=sso.url, timeout=60)

    def follow(r: httpx.Response) -> httpx.Response | str:
        while r.status_code in (302, 303):
            location = urllib.parse.urljoin(str(r.url), r.headers["location"])
            if location.startswith(sso.url + "/") and urllib.parse.urlsplit(location).path == "/":
                return location  # back in the web UI
            r = client.get(location)
        return r

    page = follow(client.get("/auth/oidc/login", params={"return_to": "/#/chat"}))
    assert isinstance(page, httpx.Response) and "/interaction/" in str(page.url), page
    uid = str(page.url).rstrip("/").rsplit("/", 1)[-1]
    landed = follow(
        client.post(f"{sso.provider.issuer}/interaction/{uid}/login", data={"username": username})
    )
    assert isinstance(landed, str), landed.text[:500]
    return client, landed
