"""What an access log can feed to a CRS rule: targets, operators and transformations, each
with the reason a rule using something else cannot run."""

from __future__ import annotations

#: Variables with one value per request.
SCALARS = frozenset(
    {
        "REQUEST_URI", "REQUEST_URI_RAW", "REQUEST_FILENAME", "REQUEST_BASENAME", "REQUEST_LINE",
        "REQUEST_METHOD", "REQUEST_PROTOCOL", "QUERY_STRING",
    }
)
#: Collections (zero or more values per request); ARGS come from the query string only.
COLLECTIONS = frozenset(
    {
        "ARGS", "ARGS_GET", "ARGS_NAMES", "ARGS_GET_NAMES", "REQUEST_HEADERS",
        "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES",
    }
)
#: The request headers access logs carry (combined format, vhost); lower case.
HEADERS = frozenset({"user-agent", "referer", "host"})
#: Variables only a later rule of a chain may read.
CHAIN_ONLY = frozenset({"MATCHED_VAR", "MATCHED_VARS"})
#: Collections whose keys compare case-insensitively (ModSecurity lower-cases them).
CASELESS_KEYS = frozenset({"ARGS", "ARGS_GET", "REQUEST_HEADERS"})

#: Where what an access log lacks is said once, for `rules crs --check`.
UNFED = {
    "REQUEST_BODY": "request bodies are not logged",
    "XML": "request bodies are not logged",
    "FILES": "uploads are not logged",
    "FILES_NAMES": "uploads are not logged",
    "FILES_COMBINED_SIZE": "uploads are not logged",
    "MULTIPART_PART_HEADERS": "request bodies are not logged",
    "REQBODY_PROCESSOR": "request bodies are not logged",
    "REQUEST_BODY_LENGTH": "request bodies are not logged",
    "ARGS_POST": "request bodies are not logged",
    "ARGS_POST_NAMES": "request bodies are not logged",
    "ARGS_COMBINED_SIZE": "needs every argument, body included",
    "REQUEST_HEADERS_NAMES": "access logs do not list header names",
    "REMOTE_ADDR": "connection data (exception rules)",
    "UNIQUE_ID": "server-side value",
}

OPERATORS = frozenset(
    {
        "rx", "pm", "pmFromFile", "pmf", "contains", "containsWord", "beginsWith", "endsWith", "streq",
        "within", "eq", "ge", "gt", "le", "lt", "validateByteRange", "validateUrlEncoding",
        "unconditionalMatch",
    }
)
UNSUPPORTED_OPERATORS = {
    "detectSQLi": "libinjection: no maintained Python binding on PyPI (libinjection-python last released 2022)",
    "detectXSS": "libinjection: no maintained Python binding on PyPI (libinjection-python last released 2022)",
    "validateUtf8Encoding": "log text is decoded to valid UTF-8 before rules see it",
    "ipMatch": "exception rules on the server's own addresses",
}
#: Operators that take an argument expanded per request (`%{TX.2}`): compared value by value.
#: A pattern (`@rx`, `@pm`) built per request is not supported.
ROW_OPERATORS = frozenset({"streq", "contains", "beginsWith", "endsWith", "within", "eq", "ge", "gt", "le", "lt"})
TRANSFORMS = frozenset(
    {
        "none", "lowercase", "urlDecode", "urlDecodeUni", "htmlEntityDecode", "jsDecode", "cssDecode",
        "cmdLine", "removeNulls", "replaceNulls", "compressWhitespace", "removeWhitespace",
        "replaceComments", "removeCommentsChar", "removeComments", "normalizePath", "normalisePath",
        "normalizePathWin", "normalisePathWin", "utf8toUnicode", "escapeSeqDecode", "length",
        "base64Decode", "trim", "trimLeft", "trimRight",
    }
)
