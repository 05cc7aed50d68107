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
    assert code.startswith("````") and code.endswith("````")


def test_a_code_span_shows_its_text_as_it_is_and_never_as_markup() -> None:
    """Rendered by a CommonMark implementation: `<` reads as `<` (not `&lt;`), and no tag,
    link or emphasis can come out of the span, whatever backticks the text holds."""
    from markdown_it import MarkdownIt

    hostile = "GET /q?x=<script>alert(1)</script>&y=1 `` ``` *b* [l](http://e) <img src=x onerror=alert(2)>"
    html = MarkdownIt("commonmark").render("see " + markdown_code(hostile) + " end")
    assert "<script" not in html and "<img" not in html and "<a " not in html and "<em>" not in html
    assert html.count("<code>") == 1
    code = html[html.index("<code>") + 6:html.index("</code>")]
    assert code.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip() == hostile
