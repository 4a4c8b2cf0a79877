"""Links a reader can open for a document: never a server file path.

A citation's ``uri`` says where the document was read from (a ``file://`` path on the server, an
``s3://`` key, a web page); its ``url`` is what a person can click. :func:`public_url` gives the
document's own public address, in this order:

1. an attribute ``url``, ``source_url`` or ``public_url`` holding an ``http(s)`` address (Markdown
   front matter such as ``url: https://...`` becomes an attribute at ingest; uploads and
   ``awsomechat ingest --attr url=...`` set it too);
2. the ``uri`` itself when it is an ``http(s)`` address (web pages, Kendra results);
3. a page of the AWS documentation corpus (the sample knowledge base and
   ``shared/data/awsdocs/docs`` use the same folders): ``<guide folder>/<page>.md`` is
   ``https://docs.aws.amazon.com/<service>/latest/<guide>/<page>.html`` (:data:`AWS_DOCS_GUIDES`).

Otherwise it is empty, and the API links to the document in the web UI instead
(``awsomechat.api.links``). Applied when a citation is made, not at ingest, so documents stored
before this existed get their links without being ingested again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

URL_ATTRIBUTES = ("url", "source_url", "public_url")

# Guide folder -> the guide's address on docs.aws.amazon.com (a page's file stem is its HTML name).
# Checked against the corpus: each prefix is the one the guide's own pages use to link to sibling
# pages, and the names linked under it are page files of that folder (tests/test_links.py checks
# this on the sample knowledge base; on the full corpus, e.g. Lambda 51 of its 75 linked names,
# Kendra 9 of 9, RDS 82 of 84 are pages of the folder, the rest are pages the snapshot lacks).
AWS_DOCS_GUIDES: dict[str, str] = {
    "amazon-dynamodb-developer-guide": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/",
    "amazon-ec2-user-guide": "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/",
    "amazon-forecast-developer-guide": "https://docs.aws.amazon.com/forecast/latest/dg/",
    "amazon-guardduty-user-guide": "https://docs.aws.amazon.com/guardduty/latest/ug/",
    "amazon-kendra-developer-guide": "https://docs.aws.amazon.com/kendra/latest/dg/",
    "amazon-rds-user-guide": "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/",
    "amazon-sagemaker-developer-guide": "https://docs.aws.amazon.com/sagemaker/latest/dg/",
    "aws-cloudtrail-user-guide": "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/",
    "aws-codepipeline-user-guide": "https://docs.aws.amazon.com/codepipeline/latest/userguide/",
    "aws-greengrass-developer-guide": "https://docs.aws.amazon.com/greengrass/latest/developerguide/",
    "aws-iotanalytics-developer-guide": "https://docs.aws.amazon.com/iotanalytics/latest/userguide/",
    "aws-lambda-developer-guide": "https://docs.aws.amazon.com/lambda/latest/dg/",
    "aws-transit-gateway-guide": "https://docs.aws.amazon.com/vpc/latest/tgw/",
    "elb-application-load-balancers-user-guide": (
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/"
    ),
}


def is_web_url(value: object) -> bool:
    """An ``http(s)`` address with a host (what a browser opens)."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def aws_docs_url(uri: str) -> str:
    """The docs.aws.amazon.com page of a corpus file (``.../<guide folder>/<page>.md``), or ""."""
    parts = urlsplit(uri)
    if parts.scheme not in ("file", ""):
        return ""
    path = PurePosixPath(unquote(parts.path))
    prefix = AWS_DOCS_GUIDES.get(path.parent.name)
    if prefix is None or path.suffix.lower() != ".md" or not path.stem:
        return ""
    return f"{prefix}{path.stem}.html"


def public_url(uri: str, attributes: Mapping[str, Any] | None = None) -> str:
    """The document's own public address (see the module docstring), or "" when it has none."""
    for key in URL_ATTRIBUTES:
        value = (attributes or {}).get(key)
        if is_web_url(value):
            return str(value).strip()
    if is_web_url(uri):
        return uri
    return aws_docs_url(uri)
