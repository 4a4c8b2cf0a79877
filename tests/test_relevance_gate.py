"""The relevance gate's term coverage on a real store: acronyms count as covered when the passages
write them out (qa_calibration's "ALB" questions were turned away on the whole corpus)."""

from __future__ import annotations

from awsomechat.container import Container
from awsomechat.types import AccessScope, SearchRequest
from tests.helpers import ingest_texts

DOCS = {
    "alb-logs.md": "# Access logs for your Application Load Balancer\n\nElastic Load Balancing publishes a "
    "log file for each load balancer node every 5 minutes. Access logging is an optional feature of "
    "Elastic Load Balancing that is disabled by default.",
    "dynamodb.md": "# DynamoDB Streams\n\nAll data in DynamoDB Streams is subject to a 24-hour lifetime.",
    "filler.md": "# Lambda\n\nA Lambda function can run for up to 900 seconds. Lambda writes logs to "
    "CloudWatch. Amazon Kendra indexes documents from an S3 bucket.",
}


def _coverage(c: Container, question: str) -> float:
    access = AccessScope.public()
    hits = c.retriever.search(SearchRequest(text=question, k=5, access=access)).hits
    return c.relevance_judge.judge(question, hits, access).coverage


def test_an_acronym_the_passages_spell_out_is_covered(container: Container) -> None:
    ingest_texts(container, DOCS)
    spelled = _coverage(container, "How often does an ALB publish access log files?")
    written = _coverage(container, "How often does an Application Load Balancer publish access log files?")
    assert spelled == written == 1.0
    # Initials of words that are not a capitalised name ("a load balancer") do not cover it, and an
    # acronym no passage spells out stays uncovered.
    assert _coverage(container, "How often does an NLB publish access log files?") < 0.8
    assert _coverage(container, "What is the SLA of DynamoDB Streams?") < 1.0
