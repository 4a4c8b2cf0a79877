"""Markdown loader: sections by ATX/setext headings, code fences kept verbatim, front matter read.

markdown-it-py finds the block structure (so a ``# line`` inside a fence is never a heading and a
``---`` rule is not mistaken for a setext underline); the text itself is taken from the source
lines, lightly cleaned, so nothing the parser does not understand is lost.
"""

from __future__ import annotations

import html
import itertools
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from awsomechat.ingest.loaders.text import decode_text, file_stem
from awsomechat.types import JsonScalar, LoadedDocument, Section, SourceItem

__all__ = ["MarkdownLoader", "parse_front_matter"]

# AWS docs put `<a name="x"></a>` anchors at the end of headings; they are link targets, not text.
_ANCHOR = re.compile(r"""<a\s+(?:name|id)\s*=\s*["'][^"']*["']\s*(?:/>|>\s*</a>)""", re.IGNORECASE)
# ... and sometimes right after a closing fence, which would stop it closing the code block.
_FENCE_ANCHOR = re.compile(
    r"""^([ \t]*(?:`{3,}|~{3,}))[ \t]*<a\s+(?:name|id)\s*=\s*["'][^"']*["']\s*>\s*</a>[ \t]*$""", re.M
)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before any ASCII punctuation
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_MANY_BLANK = re.compile(r"\n{3,}")
_FM_KEY = re.compile(r"^([A-Za-z_][\w .-]*?)\s*:(?:\s+(.*))?$")
_FM_ITEM = re.compile(r"^\s*-\s+(.*)$")
_MAX_FRONT_MATTER_LINES = 200


def _clean_inline(line: str) -> str:
    """Drop anchors and link targets, decode entities and escapes, except inside `code spans`.

    ``[text](url)`` becomes ``text``: URLs are noise to both retrievers and cost passage tokens.
    """
    line = _ANCHOR.sub("", line)
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(line):
        out.append(_unescape(_LINK.sub(r"\1", line[last : match.start()])))
        out.append(match.group(0))
        last = match.end()
    out.append(_unescape(_LINK.sub(r"\1", line[last:])))
    return "".join(out)


def _unescape(text: str) -> str:
    if "&" in text:
        text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text


def _heading_text(raw: str) -> str:
    text = _clean_inline(raw)
    text = _LINK.sub(r"\1", text)
    return " ".join(_EMPHASIS.sub("", text).split())


def _scalar(value: str) -> JsonScalar:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if re.fullmatch(r"-?\d{1,15}", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def parse_front_matter(text: str) -> tuple[dict[str, JsonScalar], str]:
    """Split YAML-ish front matter (``---`` / ``key: value`` lines / ``---``) from the body.

    Only flat ``key: value`` pairs and ``- item`` lists (joined with ", ") are understood; a block
    with anything else is not front matter and the text is returned unchanged.
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    meta: dict[str, JsonScalar] = {}
    items: dict[str, list[str]] = {}
    key: str | None = None
    for i in range(1, min(len(lines), _MAX_FRONT_MATTER_LINES)):
        line = lines[i].rstrip()
        if line in ("---", "..."):
            if not meta:
                return {}, text
            for list_key, values in items.items():
                meta[list_key] = ", ".join(values)
            return meta, "\n".join(lines[i + 1 :])
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if (m := _FM_ITEM.match(line)) and key is not None:
            items.setdefault(key, []).append(str(_scalar(m.group(1))))
        elif m := _FM_KEY.match(line):
            key = m.group(1).strip()
            meta[key] = _scalar(m.group(2) or "")
        else:
            return {}, text
    return {}, text


def _unclosed_fence(tokens: list[Token], lines: list[str]) -> int | None:
    """The opening line of a code fence that runs to the end of its container unclosed."""
    for tok in tokens:
        if tok.type != "fence" or tok.map is None:
            continue
        start, end = tok.map
        body = [line for line in lines[start + 1 : end] if line.strip()]
        last = body[-1].lstrip(" \t>").rstrip() if body else ""
        if not (last.startswith(tok.markup) and not last.strip(tok.markup[0])):
            return start
    return None


class MarkdownLoader:
    """Markdown (``.md``, ``.markdown``), including the AWS documentation corpus's dialect."""

    format = "markdown"

    def __init__(self) -> None:
        # Only the block structure is needed; skipping inline parsing makes this ~3x faster.
        self._md = MarkdownIt("commonmark")
        self._md.core.ruler.disable("inline")

    def _parse(self, body: str) -> tuple[list[str], list[Token]]:
        lines = body.split("\n")
        tokens = self._md.parse(body)
        for _ in range(3):
            stray = _unclosed_fence(tokens, lines)
            if stray is None:
                break
            # A stray fence that never closes turns the rest of the file into code (headings
            # included); it is a typo in the source, so read that line as nothing instead.
            lines[stray] = ""
            tokens = self._md.parse("\n".join(lines))
        return lines, tokens

    def load(self, item: SourceItem) -> LoadedDocument:
        """Split ``item`` into one section per heading, with the path of enclosing headings."""
        meta, body = parse_front_matter(decode_text(item))
        body = _FENCE_ANCHOR.sub(r"\1", body)
        lines, tokens = self._parse(body)
        skip: set[int] = set()
        verbatim: set[int] = set()
        headings: list[tuple[int, int, int, str]] = []  # start line, end line, level, text
        for i, tok in enumerate(tokens):
            if tok.map is None:
                continue
            start, end = tok.map
            if tok.type == "hr":
                skip.update(range(start, end))
            elif tok.type in ("fence", "code_block"):
                verbatim.update(range(start, end))
            elif tok.type == "heading_open" and tok.nesting == 1:
                text = _heading_text(tokens[i + 1].content) if i + 1 < len(tokens) else ""
                headings.append((start, end, int(tok.tag[1:]), text))

        def body_text(start: int, end: int) -> str:
            out = [
                lines[n] if n in verbatim else _clean_inline(lines[n]).rstrip()
                for n in range(start, end)
                if n not in skip
            ]
            return _MANY_BLANK.sub("\n\n", "\n".join(out)).strip("\n")

        sections: list[Section] = []
        stack: list[tuple[int, str]] = []
        bounds = [(0, 0, 0, ""), *headings, (len(lines), len(lines), 0, "")]
        for (_, h_end, level, text), (next_start, *_rest) in itertools.pairwise(bounds):
            if level:
                while stack and stack[-1][0] >= level:
                    stack.pop()
                if text:
                    stack.append((level, text))
            section = body_text(h_end, next_start)
            if section.strip():
                sections.append(Section(text=section, heading_path=tuple(t for _, t in stack)))
        first_h1 = next((text for _, _, level, text in headings if level == 1 and text), "")
        fm_title = meta.get("title")
        title = str(fm_title).strip() if fm_title not in (None, "") else ""
        return LoadedDocument(
            title=title or first_h1 or file_stem(item),
            sections=sections,
            format=self.format,
            metadata=meta,
        )
