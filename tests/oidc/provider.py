"""The real OpenID Provider of the SSO tests: ``oidc-provider`` from npm, run with Debian's Node.js.

``OidcProvider`` starts ``provider/provider.js`` on a loopback port, gives it users and groups
(``set_user``), signing keys (``rotate_keys`` restarts it with new ones: the issuer stays, the key
ids change) and fetches access tokens the way a command-line client would: the authorization code
flow with PKCE, signing in through the provider's own form over HTTP (``access_token``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import RSAKey

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
API_AUDIENCE = "urn:awsomechat:api"
OTHER_AUDIENCE = "urn:someone-else:api"
WEB_CLIENT_ID = "awsomechat-web"
CLI_REDIRECT = "http://127.0.0.1/callback"


def ensure_node_modules() -> None:
    """``npm ci`` of the pinned provider once (node_modules is kept under the project, ignored by git)."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the SSO tests need Node.js and npm: apt-get install nodejs npm")
    subprocess.run(
        [npm, "ci", "--no-fund", "--no-audit", "--loglevel=error"], cwd=PROVIDER_DIR, check=True, timeout=600
    )


def new_signing_key() -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
    return key.as_dict(private=True)


class OidcProvider:
    """One provider process; its issuer URL survives restarts (same port)."""

    def __init__(self, workdir: Path, port: int, web_redirect: str, web_secret: str, log_path: Path) -> None:
        self.workdir = workdir
        self.port = port
        self.issuer = f"http://127.0.0.1:{port}"
        self.web_redirect = web_redirect
        self.web_secret = web_secret
        self.log_path = log_path
        self.state_path = workdir / "state.json"
        self.jwks_path = workdir / "jwks.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {"accounts": {}, "access_token_ttl": 3600}
        self.keys: list[dict[str, Any]] = [new_signing_key()]
        self._write()

    # ------------------------------------------------------------------ configuration
    def _write(self) -> None:
        self.state_path.write_text(json.dumps(self.state))
        self.jwks_path.write_text(json.dumps({"keys": self.keys}))

    def set_user(self, username: str, groups: list[str], *, admin: bool = False) -> None:
        """Add or change a user; the provider reads it at the next sign-in or token."""
        account = self.state["accounts"].setdefault(username, {"sub": f"sub-{secrets.token_hex(8)}"})
        account.update(groups=groups, admin=admin, name=username.title(), email=f"{username}@example.com")
        self._write()

    def sub(self, username: str) -> str:
        return str(self.state["accounts"][username]["sub"])

    def set_access_token_ttl(self, seconds: int) -> None:
        self.state["access_token_ttl"] = seconds
        self._write()

    @property
    def signing_kid(self) -> str:
        return str(self.keys[0]["kid"])

    # ------------------------------------------------------------------ process
    def start(self) -> None:
        ensure_node_modules()
        env = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_STATE": str(self.state_path),
            "OIDC_JWKS": str(self.jwks_path),
            "OIDC_API_AUDIENCE": API_AUDIENCE,
            "OIDC_OTHER_AUDIENCE": OTHER_AUDIENCE,
            "OIDC_WEB_CLIENT_ID": WEB_CLIENT_ID,
            "OIDC_WEB_SECRET": self.web_secret,
            "OIDC_WEB_REDIRECT": self.web_redirect,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["node", "provider.js"], cwd=PROVIDER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oidc-provider exited:\n{self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"oidc-provider did not start:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def rotate_keys(self, *, keep_old: bool = False) -> None:
        """A new signing key (first in the set, so it signs), the old one kept or dropped; restarts."""
        self.keys = [new_signing_key(), *(self.keys if keep_old else [])]
        self._write()
        self.stop()
        self.start()

    # ------------------------------------------------------------------ tokens
    def access_token(self, username: str, *, audience: str = API_AUDIENCE) -> str:
        """An access token (a JWT) for ``username`` and ``audience``, fetched as a CLI would:
        authorization code + PKCE with the public client ``cli``, signing in through the form."""
        return self.tokens(username, audience=audience)["access_token"]

    def tokens(self, username: str, *, audience: str = API_AUDIENCE) -> dict[str, str]:
        """The whole token response (access token and ID token) of that flow."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": "cli",
            "response_type": "code",
            "redirect_uri": CLI_REDIRECT,
            "scope": "openid api",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": audience,
            "prompt": "login",
        }
        with httpx.Client(base_url=self.issuer, timeout=30) as client:
            r = client.get("/auth", params=params)
            while r.status_code in (302, 303) and not r.headers["location"].startswith(CLI_REDIRECT):
                r = client.get(urllib.parse.urljoin(str(r.url), r.headers["location"]))
            if r.status_code == 200 and "/interaction/" in str(r.url):
                uid = str(r.url).rstrip("/").rsplit("/", 1)[-1]
                r = client.post(f"/interaction/{uid}/login", data={"username": username})
                while r.status_code in (302, 303) and not r.headers["location"].startswith(CLI_REDIRECT):
                    r = client.get(urllib.parse.urljoin(str(r.url), r.headers["location"]))
            assert r.status_code in (302, 303), f"{r.status_code}: {r.text[:500]}"
            query = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)
            assert "code" in query, query
            token = client.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "redirect_uri": CLI_REDIRECT,
                    "client_id": "cli",
                    "code_verifier": verifier,
                    "resource": audience,
                },
            )
            assert token.status_code == 200, token.text
            body: dict[str, str] = token.json()
            return body
