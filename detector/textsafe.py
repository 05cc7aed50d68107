"""Escaping of hostile log content for every place it is shown (terminal, Markdown, HTML).

HTML metacharacters are escaped by Jinja2's autoescape; control characters are not, so the
HTML reports pass every value through `controls_escaped` too (`cat report.html` in a terminal
must not run a log line's escape sequences). These helpers cover the rest.
"""

from __future__ import annotations

import re

# C0/C1 controls (ESC starts terminal escape sequences), DEL, and bidi overrides that can
# make a line display differently from what it contains ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def controls_escaped(text: str) -> str:
    """C0/C1 controls (CR included), DEL and bidi overrides shown as `\\xNN` / `\\uNNNN`;
    line feeds and tabs kept (for documents whose own layout uses them, such as HTML)."""
    return _UNSAFE.sub(_escape, text)


def terminal_safe(text: str, limit: int | None = 2000) -> str:
    """Show control characters as `\\xNN` / `\\uNNNN` so a log line cannot drive the terminal."""
    safe = controls_escaped(text.replace("\n", "\\n").replace("\r", "\\r"))
    if limit is not None and len(safe) > limit:
        safe = safe[:limit] + f"... [{len(safe) - limit} more characters]"
    return safe


def markdown_safe(text: str, limit: int | None = 2000) -> str:
    """Terminal-safe, HTML metacharacters as entities, Markdown metacharacters backslash-escaped."""
    safe = terminal_safe(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", safe)


def markdown_code(text: str, limit: int | None = 2000) -> str:
    """Inline code span that cannot be broken out of (fence longer than any backtick run).

    Nothing inside is entity-escaped: CommonMark shows a code span's content literally (an
    `&lt;` there would be read as those four characters) and never parses HTML in it; the
    fence and the removed line breaks are what keep the text inside."""
    safe = terminal_safe(text, limit)
    longest = max((len(m) for m in re.findall(r"`+", safe)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if safe.startswith("`") or safe.endswith("`") or not safe else ""
    return f"{fence}{pad}{safe}{pad}{fence}"
