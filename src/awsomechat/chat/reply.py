"""Replying to a customer e-mail: every request retrieved and judged on its own, one model call for
each answerable one, a hand-off for the rest.

    e-mail ─► parse (quoted history, greeting, sign-off, language, requests) ─► per request:
      retrieve ─► judge (thresholds calibrated on e-mails) ─► per answerable request: one model
      call from its own passages (numbered together), the answer paragraph only ─► greeting by
      name + answers + hand-off for what the documents do not cover + sign-off, in the e-mail's
      language

The frame (greeting, hand-off, sign-off) is written by the system, not the model: a 1.5B model
forgets names, invents sign-offs and, asked to say what it cannot answer, often answers anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from awsomechat.chat.email import ParsedEmail, Request, parse_email
from awsomechat.seams import RelevanceJudge, Retriever
from awsomechat.types import AccessScope, Condition, RelevanceVerdict, SearchHit, SearchRequest

# The customer's own figures ("about 180 MB", "20 minutes", "300 accounts") are not what the
# documents must contain: they are left out of the coverage signal.
_FIGURE = re.compile(
    r"(?<![\w.])[~≈]?\d[\d.,]*\s*(?:%|[kmgt]i?b|[kmg]bps|ms|s|sec(?:onds?)?|min(?:utes?)?|hours?|h|days?|"
    r"weeks?|months?|years?|x)?(?![\w])",
    re.IGNORECASE,
)

LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
    "pt": "Portuguese",
}  # fmt: skip


@dataclass(frozen=True)
class Phrases:
    hello: str  # neutral greeting
    dear: str  # formal
    hi: str  # informal
    sorry: str
    partial: str  # before the list of requests a person will follow up
    handoff: str  # the whole e-mail goes to a person
    sign_off: str


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        "Hello", "Dear", "Hi", "I am sorry for the trouble and the wait.",
        "We could not find the answer to the following in our documentation, so a member of our team "
        "will follow up with you on it:",
        "Thank you for your message. We could not find this in our documentation, so a member of our "
        "team will look into your request and follow up with you shortly.",
        "Kind regards,\nThe support team",
    ),
    "de": Phrases(
        "Hallo", "Guten Tag", "Hallo", "Es tut mir leid, dass Sie Ärger hatten und warten mussten.",
        "Zu folgendem Punkt haben wir in unserer Dokumentation keine Antwort gefunden; ein Mitglied "
        "unseres Teams meldet sich dazu bei Ihnen:",
        "Vielen Dank für Ihre Nachricht. Wir haben dazu in unserer Dokumentation nichts gefunden; ein "
        "Mitglied unseres Teams kümmert sich um Ihre Anfrage und meldet sich in Kürze bei Ihnen.",
        "Viele Grüße\nIhr Support-Team",
    ),
    "fr": Phrases(
        "Bonjour", "Bonjour", "Bonjour", "Nous sommes désolés pour ce désagrément et cette attente.",
        "Nous n'avons pas trouvé de réponse au point suivant dans notre documentation ; un membre de "
        "notre équipe reviendra vers vous à ce sujet :",
        "Merci pour votre message. Nous n'avons pas trouvé cette information dans notre documentation ; "
        "un membre de notre équipe va examiner votre demande et reviendra vers vous rapidement.",
        "Cordialement,\nL'équipe support",
    ),
    "es": Phrases(
        "Hola", "Estimado/a", "Hola", "Sentimos mucho las molestias y la espera.",
        "No hemos encontrado la respuesta a lo siguiente en nuestra documentación; un miembro de nuestro "
        "equipo se pondrá en contacto con usted al respecto:",
        "Gracias por su mensaje. No hemos encontrado esta información en nuestra documentación; un "
        "miembro de nuestro equipo revisará su solicitud y se pondrá en contacto con usted en breve.",
        "Saludos cordiales,\nEl equipo de soporte",
    ),
}  # fmt: skip


# A several-question e-mail: each request is answered by its own model call from its own best
# passages. One call over every question and the whole e-mail had the 1.5B model answer the
# question it found easiest and invent the rest ("there is no limit on how many layers"), and an
# even share of five passages cut the passage that held the second answer (docs/replies.md).
PASSAGES_PER_REQUEST = 3


@dataclass(frozen=True)
class PlannedRequest:
    request: Request
    hits: tuple[SearchHit, ...]
    verdict: RelevanceVerdict


@dataclass(frozen=True)
class ReplyPlan:
    email: ParsedEmail
    requests: tuple[PlannedRequest, ...]

    @property
    def answered(self) -> list[PlannedRequest]:
        return [r for r in self.requests if r.verdict.answerable]

    @property
    def handed_off(self) -> list[PlannedRequest]:
        return [r for r in self.requests if not r.verdict.answerable]

    @property
    def phrases(self) -> Phrases:
        return PHRASES.get(self.email.language, PHRASES["en"])

    def search_text(self) -> str:
        """What the answerable requests were retrieved with (the sentence trimmer scores by it)."""
        chosen = self.answered or list(self.requests)
        return " ".join(r.request.query for r in chosen)

    def verdict(self) -> RelevanceVerdict:
        """The e-mail's verdict: answerable when any request is."""
        if not self.requests:
            return RelevanceVerdict(False, 0.0, 0.0, "the e-mail asks nothing")
        v = max((r.verdict for r in self.requests), key=lambda v: (v.answerable, v.coverage, v.top_dense))
        reasons = [r.verdict.reason for r in self.requests if r.verdict.reason]
        reason = "" if v.answerable else "; ".join(reasons)
        return RelevanceVerdict(v.answerable, v.top_dense, v.coverage, reason)

    def request_hits(self, max_passages: int = 5) -> list[tuple[PlannedRequest, tuple[SearchHit, ...]]]:
        """Each answerable request with the hits its own model call is given: ``max_passages``
        for a one-question e-mail, at least ``PASSAGES_PER_REQUEST`` each for several."""
        chosen = self.answered
        each = max(PASSAGES_PER_REQUEST, max_passages // max(1, len(chosen)))
        each = max_passages if len(chosen) == 1 else each
        return [(r, r.hits[:each]) for r in chosen]

    def hits(self, max_passages: int = 5) -> list[SearchHit]:
        """The answerable requests' hits interleaved (each request's best first), without repeats,
        at most ``max_passages // requests`` (and at least 2) each: a small model answers each
        question best from few passages about it. Every request's hits when none is answerable
        (the closest passages shown with a hand-off)."""
        chosen = self.answered or list(self.requests)
        each = max(2, max_passages // max(1, len(chosen)))
        lists = [r.hits[:each] for r in chosen]
        out: list[SearchHit] = []
        seen: set[str] = set()
        for rank in range(max((len(h) for h in lists), default=0)):
            for hits in lists:
                if rank < len(hits) and hits[rank].chunk_id not in seen:
                    seen.add(hits[rank].chunk_id)
                    out.append(hits[rank])
        return out


# Requests the documentation never answers, whatever passages share their words: a price in money
# (the guides link to pricing pages) and the sender's own account or business with the company.
_MONEY = re.compile(
    r"\b(price|prices|pricing|priced|dollars?|euros?|usd|discount)\b|[$€£]"
    r"|\bhow much (?:does|do|will|would|is)\b[^?.]{0,60}\bcost\b|\bcosts? (?:per|of)\b",
    re.IGNORECASE,
)
_CURRENCY = re.compile(r"[$€£]\s?\d|\b\d[\d.,]*\s?(?:usd|eur|dollars?|euros?)\b", re.IGNORECASE)
_PERSONAL = re.compile(
    r"\b(invoices?|refund|reimburse|cancel (?:my|our) (?:subscription|account|contract|order)|"
    r"(?:reset|change|unlock) (?:my|the|our) (?:password|account)|locked out|my (?:cv|résumé|resume)|"
    r"apply for (?:the|a|an) [^.?!]{0,40}(?:position|job|role)|interview)\b",
    re.IGNORECASE,
)
# A name the request hinges on: CamelCase (SnapStart), a word with digits (gp3), or a capitalised
# word after the first; acronyms of up to four capitals (ALB, VPC) are often spelled out in the
# documents and are not checked.
_TOKEN = re.compile(r"[A-Za-z][\w.'’-]*[\w]|[A-Za-z]")
_ACRONYM = re.compile(r"^[A-Z]{1,4}s?$")


def _is_name(word: str) -> bool:
    if _ACRONYM.match(word) or re.match(r"^I(['’]\w+)?$", word):
        return False
    return bool(re.search(r"[a-z][A-Z]|[A-Za-z]\d|\d[A-Za-z]", word)) or word[:1].isupper()


def _name_runs(sentence: str) -> list[list[str]]:
    """Runs of adjacent name words, the sentence's first word excluded ("Can", "How")."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, m in enumerate(_TOKEN.finditer(sentence)):
        word = m.group(0).rstrip("'’s") if m.group(0).endswith(("'s", "’s")) else m.group(0)
        gap = sentence[m.start() - 1] if m.start() else " "
        if i > 0 and _is_name(word) and not (_ACRONYM.match(word) and not current):
            if current and gap != " ":
                runs.append(current)
                current = []
            current.append(word)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [r for r in runs if any(_is_name(w) for w in r)]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\\", "").replace("`", "").replace("*", "")).lower()


def unsupported(request: Request, hits: Sequence[SearchHit], terms: Callable[[str], set[str]]) -> str:
    """Why the documents cannot answer ``request`` although its words were found, or ``""``."""
    text = request.text
    if _PERSONAL.search(text):
        return "a request about the sender's own account or business"
    if _MONEY.search(text) and not any(_CURRENCY.search(h.text) for h in hits):
        return "asks for a price, and no passage states one"
    passages = [_flat(h.text) for h in hits]
    present: set[str] = set()
    for h in hits:
        present |= terms(h.text)
    for run in _name_runs(text) + (_name_runs(request.subject) if request.subject else []):
        phrase = " ".join(run).lower()
        if len(run) > 1 and not any(phrase in p for p in passages):
            return f"no passage names {' '.join(run)!r}"
        missing = terms(phrase) - present
        if missing:
            return f"no passage mentions {' '.join(run)!r}"
    return ""


def judge_text(request: Request) -> str:
    """The request as the relevance gate sees it: without the customer's own figures."""
    return re.sub(r"\s+", " ", _FIGURE.sub(" ", request.query)).strip() or request.query


def plan_reply(
    message: str,
    *,
    retriever: Retriever,
    gate: RelevanceJudge,
    access: AccessScope,
    filters: tuple[Condition, ...] = (),
    k: int = 8,
    check_names: bool = True,
) -> ReplyPlan:
    """Parse the e-mail, retrieve for each request under the caller's access, judge each one."""
    email = parse_email(message)
    requests = email.requests or (Request(email.body, email.body),)
    planned = []
    for r in requests:
        hits = retriever.search(SearchRequest(text=r.query, k=k, filters=filters, access=access)).hits
        verdict = gate.judge(judge_text(r), hits, access)
        if verdict.answerable and check_names and email.language == "en":  # the rules read English
            reason = unsupported(r, hits, gate.term_set)
            if reason:
                verdict = RelevanceVerdict(False, verdict.top_dense, verdict.coverage, reason)
        planned.append(PlannedRequest(r, tuple(hits), verdict))
    return ReplyPlan(email, tuple(planned))


def _asked(request: Request) -> str:
    """What a request asks: "Will that fit" says little alone, so a short question comes with the
    statement it leans on."""
    return request.query if len(request.text.split()) < 8 else request.text


def prompt_text(plan: ReplyPlan) -> str:
    """The e-mail and the requests to answer, together: what the verifier takes as the question
    (the sender's own words may be repeated in the reply) and what a one-call prompt would ask."""
    asks = "\n".join(f"{i}. {_asked(r.request)}" for i, r in enumerate(plan.answered, start=1))
    lang = LANGUAGE_NAMES.get(plan.email.language, "the e-mail's language")
    lines = [f"Customer e-mail:\n{plan.email.body}", "", f"Answer these questions from the passages:\n{asks}"]
    if plan.handed_off:
        lines.append("Do not answer anything else: a colleague follows up on the rest.")
    lines.append(f"Write in {lang}.")
    return "\n".join(lines)


def request_question(plan: ReplyPlan, planned: PlannedRequest) -> str:
    """The ``{question}`` of one request's model call: the request alone, in the e-mail's language."""
    question = _asked(planned.request)
    if plan.email.language != "en":
        lang = LANGUAGE_NAMES.get(plan.email.language, "the e-mail's language")
        question += f"\nWrite the answer in {lang}."
    return question


def greeting(plan: ReplyPlan) -> str:
    p, email = plan.phrases, plan.email
    word = email.greeting.lower()
    formal = ("dear", "sehr geehrte", "sehr geehrter", "estimado", "estimada", "estimados")
    if word in formal and email.sender:
        salutation = p.dear
    elif word in ("hi", "hey", "hallo", "hola", "salut", "ciao", "hoi"):
        salutation = p.hi
    else:
        salutation = p.hello
    return f"{salutation} {email.sender}," if email.sender else f"{salutation},"


def head(plan: ReplyPlan) -> str:
    """Greeting (and an apology when the sender is upset), before the model's answer."""
    lines = [greeting(plan), ""]
    if plan.email.frustrated:
        lines += [plan.phrases.sorry, ""]
    return "\n".join(lines) + "\n" if len(lines) > 2 else lines[0] + "\n\n"


def tail(plan: ReplyPlan) -> str:
    """Hand-off for the requests the documents do not cover, and the sign-off."""
    out = "\n\n"
    if plan.handed_off:
        items = "\n".join(f"- {r.request.text}" for r in plan.handed_off)
        out += f"{plan.phrases.partial}\n{items}\n\n"
    return out + plan.phrases.sign_off


def handoff_reply(plan: ReplyPlan) -> str:
    """The whole reply when no request can be answered from the documents (no model call)."""
    return head(plan) + plan.phrases.handoff + "\n\n" + plan.phrases.sign_off


_MODEL_GREETING = re.compile(
    r"^\s*(dear|hello|hi|hey|hallo|guten tag|sehr geehrte|bonjour|hola|estimad)\b[^\n]{0,60}[,!:]?\s*$", re.I
)
_MODEL_SIGN_OFF = re.compile(
    r"^\s*(best|kind|warm)?\s*(regards|wishes)|^\s*(sincerely|cheers|thanks|thank you|viele grüße|"
    r"mit freundlichen|cordialement|saludos|atentamente)\b[^\n]{0,30}$|^\s*(the )?support team\b",
    re.IGNORECASE,
)


@dataclass
class BodyFilter:
    """Passes the model's answer through line by line, dropping a greeting it wrote anyway and
    stopping at its own sign-off (the system writes both)."""

    done: bool = False
    _buffer: str = ""
    _started: bool = False
    _sent: list[str] = field(default_factory=list)

    def feed(self, token: str) -> str:
        if self.done:
            return ""
        self._buffer += token
        out: list[str] = []
        while "\n" in self._buffer and not self.done:
            line, self._buffer = self._buffer.split("\n", 1)
            out.append(self._line(line, "\n"))
        return "".join(out)

    def flush(self) -> str:
        rest, self._buffer = self._buffer, ""
        return "" if self.done else self._line(rest, "")

    def _line(self, line: str, end: str) -> str:
        if not self._started:
            if not line.strip() or _MODEL_GREETING.match(line):
                return ""
            self._started = True
        if _MODEL_SIGN_OFF.match(line):
            self.done = True
            return ""
        return line + end


def strip_frame(text: str) -> str:
    """A finished answer without a greeting or sign-off of the model's own (non-streamed uses)."""
    f = BodyFilter()
    return (f.feed(text) + f.flush()).strip()


def request_summary(plan: ReplyPlan) -> Sequence[str]:
    return [r.request.text for r in plan.requests]
