"""Follow-ups sent as OpenAI ``messages``: the search text and the gate's decision with the earlier
questions as typed (before issue 13) and as a session stores them (now), no model involved.

Unlike the other benchmarks this one reads an existing store (the configured ``AWSOMECHAT_*``
settings, e.g. ``AWSOMECHAT_DATA_DIR`` with the sample KB ingested) and changes nothing::

    AWSOMECHAT_DATA_DIR=/tmp/kb python bench/openai_history.py [evaldata/multiturn.jsonl]

The last line of stdout is one JSON object with the figures (README, "Measured here").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from awsomechat.chat.followup import with_history_terms
from awsomechat.chat.prompts import get_profile
from awsomechat.chat.rewrite import needs_context
from awsomechat.chat.stateless import standalone_history, standalone_of
from awsomechat.chat.types import Turn
from awsomechat.container import Container
from awsomechat.eval.answers import relevant
from awsomechat.eval.conversations import load_conversations
from awsomechat.eval.metrics import mean
from awsomechat.types import AccessScope, SearchRequest


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "evaldata/multiturn.jsonl")
    c = Container()
    chat, profile, scope = c.settings.chat, get_profile("chat", {}), AccessScope.public()
    hit: dict[str, list[bool]] = {"typed": [], "stored": []}
    answerable: dict[str, list[bool]] = {"typed": [], "stored": []}
    differs: list[bool] = []
    for _, turns in load_conversations(path):
        questions = [t.question for t in turns]
        for i in range(1, len(turns)):
            keep = chat.history_turns
            histories = {
                "typed": [Turn(question=q, standalone_question=q, answer="") for q in questions[:i][-keep:]],
                "stored": [
                    Turn(question=s, standalone_question=s, answer="")
                    for s, _ in standalone_history(
                        [(q, "") for q in questions[:i]], chat=chat, profile=profile
                    )
                ],
            }
            texts = {}
            for name, history in histories.items():
                standalone = standalone_of(questions[i], history, chat=chat, profile=profile)
                earlier = [t.standalone_question for t in history]
                wanted = bool(history) and needs_context(questions[i], earlier)  # as ChatService does
                texts[name] = with_history_terms(standalone, earlier) if wanted else standalone
                hits = c.retriever.search(
                    SearchRequest(text=texts[name], k=chat.retrieve_k, access=scope)
                ).hits
                hit[name].append(any(relevant(h.uri, turns[i].doc_ids) for h in hits[:5]))
                answerable[name].append(c.relevance_judge.judge(standalone, hits, scope).answerable)
            differs.append(texts["typed"] != texts["stored"])
    out = {
        "follow_ups": len(differs),
        "search_text_differs": sum(differs),
        "recall@5": {k: mean(v) for k, v in hit.items()},
        "answerable": {k: mean(v) for k, v in answerable.items()},
    }
    print(
        f"{out['follow_ups']} follow-ups; search text differs in {out['search_text_differs']}",
        file=sys.stderr,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
