"""Verifying AWS Signature Version 4 on incoming requests, as botocore computes it for JSON services.

The canonical request is botocore's ``SigV4Auth.canonical_request`` (``botocore/auth.py``): the
method, the request path with dot segments and empty segments removed and percent-encoded
(``/`` and ``~`` kept), the query string's ``key=value`` pairs sorted as sent, the signed headers
(lowercased, sorted, values trimmed and inner whitespace collapsed, repeated headers joined by
``,``), the signed-header list and the SHA-256 of the body. The body hash is always computed
here: a request that claims ``UNSIGNED-PAYLOAD`` or another hash in ``X-Amz-Content-SHA256`` is
refused, so a signature always covers the body.

Pure functions, no I/O: ``parse`` checks the request's form and freshness, ``signature_matches``
compares in constant time once the caller has the secret key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from awsomechat.errors import AuthenticationError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=15)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
# Headers a signature must cover: the target host, the time (against replay after 15 minutes)
# and, when present, the operation (a signed Query must not be replayed as another operation).
_REQUIRED = ("host", "x-amz-date")
_REQUIRED_IF_PRESENT = ("x-amz-target", "x-amz-content-sha256")


class SignatureError(AuthenticationError):
    """A request that is not validly signed (malformed, stale or not matching)."""


@dataclass(frozen=True)
class SignedRequest:
    """A well-formed, fresh SigV4 request whose signature is still to be checked."""

    access_key_id: str
    region: str
    service: str
    amz_date: str
    signature: str
    canonical_request: str

    @property
    def scope(self) -> str:
        return f"{self.amz_date[:8]}/{self.region}/{self.service}/aws4_request"

    def string_to_sign(self) -> str:
        digest = hashlib.sha256(self.canonical_request.encode("utf-8")).hexdigest()
        return "\n".join((ALGORITHM, self.amz_date, self.scope, digest))


def parse(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    service: str,
    now: dt.datetime | None = None,
) -> SignedRequest:
    """The request's signature claim; ``SignatureError`` (saying why) when it is missing,
    malformed, for another service, stale by more than 15 minutes, or leaves out a header
    that must be signed."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    authorization = ",".join(values.get("authorization", []))
    if not authorization:
        raise SignatureError("the request is not signed: it needs an AWS SigV4 Authorization header")
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"the Authorization header must use {ALGORITHM}, not {algorithm[:40]!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
    if missing:
        raise SignatureError(f"the Authorization header lacks {', '.join(missing)}")
    credential = fields["Credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        raise SignatureError("the Credential must be <access key id>/<date>/<region>/<service>/aws4_request")
    access_key_id, date, region, signed_service, _ = credential
    if signed_service != service:
        raise SignatureError(f"the request is signed for the service {signed_service!r}, not {service!r}")

    amz_date = (values.get("x-amz-date") or [""])[0].strip()
    try:
        when = dt.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError("the request needs an X-Amz-Date header (YYYYMMDDTHHMMSSZ)") from None
    if date != amz_date[:8]:
        raise SignatureError("the Credential's date is not the date of X-Amz-Date")
    now = now or dt.datetime.now(dt.UTC)
    if abs(now - when) > MAX_SKEW:
        raise SignatureError(
            f"the signature has expired: X-Amz-Date {amz_date} is more than 15 minutes from the"
            f" server's time {now.strftime(_AMZ_DATE)}"
        )

    signed = sorted({h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip()})
    for name in [*_REQUIRED, *(h for h in _REQUIRED_IF_PRESENT if h in values)]:
        if name not in signed:
            raise SignatureError(f"the signature must cover the {name} header")
    absent = [h for h in signed if h not in values]
    if absent:
        raise SignatureError(f"signed headers are missing from the request: {', '.join(absent)}")

    payload = hashlib.sha256(body).hexdigest()
    claimed = (values.get("x-amz-content-sha256") or [payload])[0].strip()
    if claimed != payload:
        raise SignatureError(
            "X-Amz-Content-SHA256 must be the SHA-256 of the body (unsigned payloads are refused)"
        )

    canonical = "\n".join(
        (
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            "".join(f"{h}:{','.join(_trim(v) for v in values[h])}\n" for h in signed),
            ";".join(signed),
            payload,
        )
    )
    return SignedRequest(access_key_id, region, service, amz_date, fields["Signature"].lower(), canonical)


def signature_matches(request: SignedRequest, secret_key: str) -> bool:
    """Whether ``request`` was signed with ``secret_key`` (compared in constant time)."""
    expected = sign(
        request.string_to_sign(), secret_key, request.amz_date[:8], request.region, request.service
    )
    return hmac.compare_digest(expected.encode("ascii"), request.signature.encode("ascii", "replace"))


def sign(string_to_sign: str, secret_key: str, date: str, region: str, service: str) -> str:
    """The hex SigV4 signature of ``string_to_sign`` (the key derivation of ``SigV4Auth.signature``)."""
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_uri(raw_path: str) -> str:
    """botocore's ``quote(normalize_url_path(path), safe='/~')``."""
    return quote(_remove_dot_segments(raw_path) if raw_path else "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    """botocore's ``_canonical_query_string_url``: the pairs as sent, sorted."""
    if not raw_query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in raw_query.split("&"))
    return "&".join(f"{k}={v}" for k, v in pairs)


def _remove_dot_segments(url: str) -> str:
    """RFC 3986 5.2.4 plus empty segments dropped, as ``botocore.utils.remove_dot_segments``."""
    out: list[str] = []
    for segment in url.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if out:
                    out.pop()
            else:
                out.append(segment)
    first = "/" if url.startswith("/") else ""
    last = "/" if url.endswith("/") and out else ""
    return first + "/".join(out) + last


def _trim(value: str) -> str:
    return " ".join(value.split())


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
