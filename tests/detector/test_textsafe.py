from detector.textsafe import markdown_code, markdown_safe, terminal_safe


def test_terminal_escape_sequences_are_shown_not_interpreted() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07 \u202eevil\r\nnext"
    safe = terminal_safe(hostile)
    assert "\x1b" not in safe and "\x07" not in safe and "\u202e" not in safe and "\n" not in safe
    assert safe == "ok\\x1b[2J\\x1b]0;pwned\\x07 \\u202eevil\\r\\nnext"


def test_terminal_safe_truncates_long_lines() -> None:
    assert terminal_safe("a" * 50, limit=10) == "aaaaaaaaaa... [40 more characters]"


def test_markdown_cannot_inject_links_or_html() -> None:
    text = "[click](http://evil) <img src=x onerror=alert(1)> **b**"
    safe = markdown_safe(text)
    assert "\\[click\\]\\(http://evil\\)" in safe
    assert "<img" not in safe
    code = markdown_code("a ``` b `c` <script>")
    assert code.startswith("````") and code.endswith("````") and "<script>" not in code
