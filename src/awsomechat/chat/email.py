"""Reading a customer e-mail: what is quoted, who wrote it, in which language, and what it asks.

Pure text rules, no model call: on a 2-core CPU every model call costs seconds, and a wrong split
costs less than a slow one (each request is retrieved, judged and answered on its own; the
verifier takes the whole e-mail as the question, so the sender's own words may be repeated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Where an earlier message starts: everything from here on is history, not the request.
_QUOTE_START = re.compile(
    r"^(-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|message d'origine)\s*-{2,}"
    r"|on .{0,120} wrote:\s*$|am .{0,120} schrieb .{0,80}:\s*$|le .{0,120} a écrit\s*:\s*$"
    r"|el .{0,120} escribió:\s*$|from:\s.*$|von:\s.*$|de\s*:\s.*$)",
    re.IGNORECASE | re.MULTILINE,
)
_GREETING = re.compile(
    r"^\s*(?P<word>hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|hallo|guten (?:tag|morgen)"
    r"|liebe[rs]?|sehr geehrte[rs]?|bonjour|salut|hola|buenos d[ií]as|estimad[oa]s?|ciao|buongiorno"
    r"|hoi|beste|olá|bom dia)\b(?P<rest>[^\n]{0,60})$",
    re.IGNORECASE,
)
_INLINE_GREETING = re.compile(
    r"^\s*(?P<word>hi|hello|hey|dear|hallo|bonjour|hola)\b[^,!?\n]{0,30}[,!]\s+(?=\S)", re.IGNORECASE
)
_CLOSING = re.compile(
    r"^\s*(thanks|thank you|thx|many thanks|thanks a lot|cheers|best|regards|kind regards|best regards|"
    r"warm regards|sincerely|yours|frustrated|viele grüße|viele gruesse|beste grüße|mit freundlichen grüßen|"
    r"gruß|grüße|danke|vielen dank|cordialement|merci|bien à vous|saludos|un saludo|gracias|atentamente|"
    r"cordiali saluti|grazie|met vriendelijke groet|groeten|obrigad[oa]|atenciosamente)\b"
    r"[\s,.!]*(?P<name>[^\n]{0,40})$",
    re.IGNORECASE,
)
_INLINE_CLOSING = re.compile(
    r"(?<=[.!?])\s+(?:thanks|thank you|cheers|regards|best regards|kind regards|best|danke|merci|gracias)"
    r"[,!.]?\s+(?P<name>[A-ZÀ-Ý][\w'’.-]+(?: [A-ZÀ-Ý][\w'’.-]+)?)[.!]?\s*$",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-ZÀ-Ý][\w'’.-]+(?: [A-ZÀ-Ý][\w'’.-]+){0,2}$")
_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[^\s])|\n+")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")
_ASK_START = re.compile(
    r"^(how|what|which|when|where|why|who|whose|is|are|can|could|would|will|do|does|did|should|shall|may|"
    r"has|have|any|please (?:tell|let|advise|explain|confirm)|i(?:'d| would) like to know|i need to know|"
    r"tell me|wie|was|welche[rsnm]?|wann|wo|warum|kann|können|gibt es|ist|sind|comment|quel(?:le)?s?|"
    r"est-ce|pouvez|combien|cómo|como|qué|que|cuál|cuántos|cuánto|puedo|se puede|hay)\b",
    re.IGNORECASE,
)
# "Will that fit, and is there a limit ...?": a second question joined by "and".
_JOINED = re.compile(
    r",?\s+(?:and|also|und|et|y)\s+(?=(?:is|are|can|could|how|what|which|do|does|will|would|should|"
    r"where|when|wie|was|welche|kann|ist|gibt)\b)",
    re.IGNORECASE,
)
# A question asked as a statement: "our auditors ask how long GuardDuty keeps findings."
_INDIRECT = re.compile(
    r"\b(how (?:many|much|long|often|far|do|does|can|to)|whether|is there a|are there any"
    r"|wie (?:viele?|lange|oft))\b",
    re.IGNORECASE,
)
_LEADING_FILLER = re.compile(
    r"^(?:and|also|plus|so|but|und|auch|et|y|one more thing|another question)[,:]?\s+", re.I
)
_DEICTIC = re.compile(r"\b(that|this|it|they|them|those|these|there|so|das|es|dies|cela|ça|eso)\b", re.I)
_FRUSTRATION = re.compile(
    r"(frustrat|third time|second time|still (?:not|no|waiting|haven)|nobody|no one has|unacceptable|"
    r"so tired|!!|\?!|ridiculous|not had an answer|again and again|blocks? our|urgent|asap|right now)",
    re.IGNORECASE,
)

_LANG_WORDS = {
    "en": "the and is are we our you your how what which can with for this that to of in".split(),
    "de": "der die das und ist wir unser unsere wie was welche kann können mit für nicht ein eine".split(),
    "fr": "le la les et est nous notre vous comment quel quelle peut avec pour pas une des".split(),
    "es": "el la los las y es nosotros nuestro usted cómo qué cuál puede con para una del".split(),
    "it": "il lo la gli e è noi nostro come quale può con per non una della".split(),
    "nl": "de het en is wij onze hoe wat welke kan met voor niet een".split(),
    "pt": "o a os as e é nós nosso como qual pode com para não uma".split(),
}


@dataclass(frozen=True)
class Request:
    """One thing the sender asks: the sentence as written and the text to retrieve with."""

    text: str
    query: str
    # The earlier question this one takes its subject from ("how do we switch it on?"), if any:
    # what that question names must be in the documents for this one too.
    subject: str = ""


@dataclass(frozen=True)
class ParsedEmail:
    body: str  # the new message without greeting, sign-off and quoted history
    sender: str | None
    greeting: str  # the sender's greeting word ("Hi", "Dear"): the reply answers in the same register
    language: str  # ISO 639-1 guess: en, de, fr, es, it, nl, pt
    frustrated: bool
    requests: tuple[Request, ...] = field(default_factory=tuple)


def strip_quoted(text: str) -> str:
    """The new part of a reply: ``>`` lines and everything from "On … wrote:" / "-----Original
    Message-----" on are dropped (unless nothing would be left)."""
    m = _QUOTE_START.search(text)
    new = text[: m.start()] if m and text[: m.start()].strip() else text
    kept = [line for line in new.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip() or text.strip()


def detect_language(text: str) -> str:
    words = re.findall(r"[\wà-ÿ]+", text.lower())
    counts = {lang: sum(w in vocab for w in words) for lang, vocab in _LANG_WORDS.items()}
    counts = {k: v + (1 if k == "en" else 0) for k, v in counts.items()}  # ties go to English
    return max(counts, key=lambda k: counts[k])


def _split_off_frame(lines: list[str]) -> tuple[str, list[str], str | None]:
    """Greeting word, the body lines, and the sender's name from the sign-off."""
    greeting = ""
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines:
        g = _GREETING.match(lines[0])
        if g and len(g.group("rest").split()) <= 6 and not g.group("rest").rstrip().endswith("?"):
            greeting = g.group("word")
            lines = lines[1:]
        elif inline := _INLINE_GREETING.match(lines[0]):  # "Hi, how many saved filters …?"
            greeting = inline.group("word")
            lines = [lines[0][inline.end() :], *lines[1:]]
    sender: str | None = None
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    for i in range(end - 1, max(end - 7, -1), -1):
        c = _CLOSING.match(lines[i])
        if not c:
            continue
        tail = [x.strip() for x in lines[i + 1 : end] if x.strip()]
        name = c.group("name").strip(" ,.!")
        if name and _NAME.match(name):
            sender = name
        elif tail and _NAME.match(tail[0]):
            sender = tail[0]
        lines = lines[:i]
        break
    else:
        last = lines[end - 1].strip() if end else ""
        inline_close = _INLINE_CLOSING.search(last)
        if inline_close and inline_close.start() > 0:  # "… in GuardDuty? Thanks, Ann"
            lines = [*lines[: end - 1], last[: inline_close.start()].rstrip()]
            return greeting, lines, inline_close.group("name")
        if last and _NAME.match(last) and len(last.split()) <= 3 and end > 1:
            sender = last
            lines = lines[: end - 1]
    return greeting, lines, sender


def _questions(body: str) -> list[tuple[int, str]]:
    """(sentence index, question) pairs, with "X, and is Y?" split in two."""
    sentences = [s.strip() for s in _SENTENCE.split(body) if s and s.strip()]
    out: list[tuple[int, str]] = []
    for i, s in enumerate(sentences):
        s = _LIST_ITEM.sub("", s)
        asks = s.endswith("?") or (
            len(s) < 300
            and (_ASK_START.match(_LEADING_FILLER.sub("", s)) is not None or _INDIRECT.search(s) is not None)
        )
        if not asks:
            continue
        for part in _JOINED.split(s):
            part = _LEADING_FILLER.sub("", part.strip(" ,;")).strip()
            if len(re.findall(r"\w+", part)) >= 2:
                out.append((i, part))
    return out


def _context_before(sentences: list[str], index: int, asked: set[int], *, max_words: int = 45) -> str:
    """The statements just before a question ("our package is 180 MB unzipped."), in reading
    order, up to ``max_words``; earlier questions are skipped (a list of questions shares the
    statement before it), and the first statement found ends the search at the next question."""
    picked: list[str] = []
    words = 0
    for j in range(index - 1, -1, -1):
        if j in asked:
            if picked:
                break
            continue
        s = _LIST_ITEM.sub("", sentences[j]).rstrip(":")
        n = len(s.split())
        if n < 4:
            continue
        if picked and words + n > max_words:
            break
        picked.insert(0, s)
        words += n
    return " ".join(picked)


def _names_something(question: str) -> bool:
    """Whether a question names its subject (a capitalised or technical word after the first)."""
    words = re.findall(r"[A-Za-z][\w-]*", question)[1:]
    return any(w[:1].isupper() or re.search(r"[a-z][A-Z]|\d", w) for w in words if w != "I")


def extract_requests(body: str, *, max_requests: int = 4) -> tuple[Request, ...]:
    """Each question of the body with the statement it leans on; the whole body when it asks nothing
    in question form ("Please send me the invoice.")."""
    sentences = [s.strip() for s in _SENTENCE.split(body) if s and s.strip()]
    found = _questions(body)
    if not found:
        return (Request(body.strip(), body.strip()),) if body.strip() else ()
    asked = {i for i, _ in found}
    requests: list[Request] = []
    previous = ""
    for i, q in found[:max_requests]:
        context = _context_before(sentences, i, asked)
        query, subject = q, ""
        if context:
            query = f"{context} {q}"
        elif previous and (len(re.findall(r"\w+", q)) < 6 or _DEICTIC.search(q) or not _names_something(q)):
            # "And how do I turn it on?": the earlier question names "it"
            query, subject = f"{previous} {q}", previous
        requests.append(Request(q, query, subject))
        previous = q
    return tuple(requests)


def parse_email(text: str) -> ParsedEmail:
    new = strip_quoted(text)
    greeting, lines, sender = _split_off_frame(new.splitlines())
    body = "\n".join(lines).strip() or new
    return ParsedEmail(
        body=body,
        sender=sender,
        greeting=greeting,
        language=detect_language(body),
        frustrated=_FRUSTRATION.search(new) is not None,
        requests=extract_requests(body),
    )
