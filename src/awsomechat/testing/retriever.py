"""What every ``Retriever`` backend (with its ``RelevanceJudge``) must do.

Subclass :class:`RetrieverContract` and provide a ``backend`` fixture yielding a
:class:`RetrieverBackend` over :data:`CORPUS` (load the documents into the backend however it
takes them: ingest them into PostgreSQL, index them in Kendra, ...). The hybrid retriever runs it
in ``tests/test_retriever_contract.py``, Kendra against a wire-format fake and against a second
AWSomeChat's ``/kendra`` endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from awsomechat.errors import AwsomeChatError
from awsomechat.filters import make_condition
from awsomechat.seams import RelevanceJudge, Retriever
from awsomechat.types import AccessScope, SearchRequest

__all__ = ["CORPUS", "ContractDocument", "RetrieverBackend", "RetrieverContract"]


@dataclass(frozen=True)
class ContractDocument:
    """One document of the contract corpus: ``key`` also names its file / id in a backend."""

    key: str
    title: str
    text: str
    attributes: dict[str, str]
    groups: tuple[str, ...] = ()


CORPUS: tuple[ContractDocument, ...] = (
    ContractDocument(
        "sqs-visibility",
        "Amazon SQS visibility timeout",
        "When a consumer receives a message from an Amazon SQS queue, the message stays in the queue"
        " but is hidden from other consumers for the visibility timeout. The default visibility"
        " timeout of a queue is 30 seconds; the maximum is 12 hours. ChangeMessageVisibility changes"
        " it for one received message.",
        {"service": "sqs", "team": "messaging"},
    ),
    ContractDocument(
        "lambda-layers",
        "AWS Lambda layers",
        "A Lambda function can use up to five layers at a time. The total unzipped size of the"
        " function and all its layers cannot exceed the unzipped deployment package size quota of"
        " 250 MB.",
        {"service": "lambda", "team": "compute"},
    ),
    ContractDocument(
        "kendra-index",
        "Creating an Amazon Kendra index",
        "An Amazon Kendra index holds the documents you search. You create an index with the"
        " CreateIndex operation, then add documents with a data source connector or BatchPutDocument.",
        {"service": "kendra", "team": "search"},
    ),
    ContractDocument(
        "payroll",
        "Payroll calendar for employees",
        "Salaries are paid on the 25th day of each month. When the 25th falls on a weekend, payroll"
        " runs on the preceding Friday.",
        {"service": "internal", "team": "finance"},
        groups=("finance",),
    ),
)

PAYROLL_Q = "On which day of the month are salaries paid by payroll?"
OFF_TOPIC_Q = "What temperature should I bake banana bread at?"


@dataclass
class RetrieverBackend:
    """A retriever over :data:`CORPUS` and its answerability judge. ``uri_of`` maps a contract key
    to the URI the backend reports for that document."""

    retriever: Retriever
    judge: RelevanceJudge
    uri_of: dict[str, str]
    admin_sees_restricted: bool = True  # Kendra without a user context shows only what its index does

    def key_of(self, uri: str) -> str:
        return next((k for k, u in self.uri_of.items() if u == uri), uri)

    def keys(self, text: str, *, k: int = 4, access: AccessScope | None = None, **kw: object) -> list[str]:
        req = SearchRequest(text=text, k=k, access=access or AccessScope.public(), **kw)  # type: ignore[arg-type]
        return [self.key_of(h.uri) for h in self.retriever.search(req).hits]


class RetrieverContract:
    """The behaviours every retriever must show; a backend adds the ``backend`` fixture."""

    def test_the_document_that_answers_ranks_first(self, backend: RetrieverBackend) -> None:
        assert backend.keys("What is the default visibility timeout of an SQS queue?")[0] == "sqs-visibility"
        assert backend.keys("How many layers can a Lambda function use?")[0] == "lambda-layers"

    def test_hits_carry_what_a_citation_needs(self, backend: RetrieverBackend) -> None:
        hits = backend.retriever.search(SearchRequest(text="Kendra index CreateIndex", k=3)).hits
        assert hits, "no hit"
        top = hits[0]
        assert top.title == "Creating an Amazon Kendra index"
        assert top.uri == backend.uri_of["kendra-index"]
        assert "CreateIndex" in top.text and top.excerpt
        assert top.attributes.get("service") == "kendra"
        ids = [h.chunk_id for h in hits]
        assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == len(ids)
        assert all(isinstance(h.document_id, str) and h.document_id for h in hits)
        for h in top.highlights:
            assert 0 <= h.start < h.end <= len(top.excerpt)

    def test_k_and_offset_page_through_the_ranking(self, backend: RetrieverBackend) -> None:
        q = "Amazon queue function index layers timeout"
        whole = backend.keys(q, k=3)
        assert len(whole) == 3
        assert backend.keys(q, k=1) == whole[:1]
        assert backend.keys(q, k=1, offset=1) == whole[1:2]
        assert backend.keys(q, k=2, offset=1) == whole[1:3]

    def test_filters_narrow_and_never_widen(self, backend: RetrieverBackend) -> None:
        q = "Amazon queue function index layers timeout"
        only = backend.keys(q, filters=(make_condition("attributes.service", "eq", "lambda"),))
        assert only == ["lambda-layers"]
        both = backend.keys(q, filters=(make_condition("attributes.team", "in", ("messaging", "search")),))
        assert sorted(both) == ["kendra-index", "sqs-visibility"]
        not_sqs = backend.keys(q, filters=(make_condition("attributes.service", "ne", "sqs"),))
        assert "sqs-visibility" not in not_sqs and not_sqs
        by_uri = backend.keys(q, filters=(make_condition("uri", "eq", backend.uri_of["kendra-index"]),))
        assert by_uri == ["kendra-index"]
        none = backend.keys(q, filters=(make_condition("attributes.service", "eq", "no-such-service"),))
        assert none == []

    def test_group_documents_only_for_their_group(self, backend: RetrieverBackend) -> None:
        assert "payroll" not in backend.keys(PAYROLL_Q, access=AccessScope.public())
        assert "payroll" not in backend.keys(PAYROLL_Q, access=AccessScope(groups=frozenset({"hr"})))
        assert backend.keys(PAYROLL_Q, access=AccessScope(groups=frozenset({"finance"})))[0] == "payroll"
        if backend.admin_sees_restricted:
            assert backend.keys(PAYROLL_Q, access=AccessScope.admin())[0] == "payroll"

    def test_judge_tells_answerable_from_off_topic(self, backend: RetrieverBackend) -> None:
        for question, answerable in (
            ("What is the default visibility timeout of an SQS queue?", True),
            (OFF_TOPIC_Q, False),
        ):
            hits = backend.retriever.search(SearchRequest(text=question, k=4)).hits
            verdict = backend.judge.judge(question, hits, AccessScope.public())
            assert verdict.answerable is answerable, (question, verdict)
            assert answerable or verdict.reason
        score = backend.judge.relevance_scorer("visibility timeout default", AccessScope.public())
        assert score("The default visibility timeout is 30 seconds.") > score("Salaries are paid monthly.")

    def test_bad_filter_is_a_clear_error_or_empty(self, backend: RetrieverBackend) -> None:
        # A range on text compares as text; either answer is fine, an unexplained crash is not.
        try:
            backend.keys("timeout", filters=(make_condition("attributes.team", "gt", "m"),))
        except AwsomeChatError as exc:
            assert exc.message
