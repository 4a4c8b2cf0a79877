"""A conservative token count for models whose tokenizer is not at hand (remote servers).

English text runs about 4 characters a token; CJK characters, emoji and other non-ASCII text run
one to three tokens a character in common BPE vocabularies. Overcounting only packs fewer
passages; undercounting would let a prompt pass our budget and overflow the server's context.
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    ascii_chars = len(text) - non_ascii
    return max(1, (ascii_chars + 3) // 4 + 2 * non_ascii)
