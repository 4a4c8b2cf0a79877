"""Container health check: exit 0 when the service in this container answers, 1 otherwise.

    python -m awsomechat.healthcheck                                 # the API's /healthz
    python -m awsomechat.healthcheck --runner http://127.0.0.1:9000   # a model runner's /health

The Dockerfile's HEALTHCHECK runs the first form (on ``api.port``); the model runner's service in
compose.yaml and the Helm chart run the second, which sends ``AWSOMECHAT_LLM__API_KEY`` as the
bearer token the runner requires. Only the standard library and the settings are used, so a
check costs a fraction of a second, and no secret is ever printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

from awsomechat.settings import ENV_PREFIX


def check(url: str, token: str | None = None, timeout_s: float = 4.0) -> str | None:
    """None when ``url`` answers 2xx, else what went wrong (without the token)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url} did not answer: {exc}"
    return None if 200 <= status < 300 else f"{url} answered {status}"


def api_url() -> str:
    """The API's /healthz on this host, at the configured port."""
    from awsomechat.settings import load_settings

    return f"http://127.0.0.1:{load_settings().api.port}/healthz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m awsomechat.healthcheck", description=__doc__.splitlines()[0])
    ap.add_argument("--runner", metavar="URL", help="check a model runner at URL (its /health) instead")
    ap.add_argument("--timeout", type=float, default=4.0, help="seconds (default 4)")
    args = ap.parse_args(argv)
    if args.runner:
        url = args.runner.rstrip("/") + "/health"
        problem = check(url, os.environ.get(f"{ENV_PREFIX}LLM__API_KEY") or None, args.timeout)
    else:
        try:
            url = api_url()
        except Exception as exc:  # a configuration the service itself would refuse
            print(f"unhealthy: {exc}", file=sys.stderr)
            return 1
        problem = check(url, None, args.timeout)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
