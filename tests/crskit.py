"""CRS-syntax rule files written for the tests (not copied from the CRS), and a helper that
turns access-log lines into the event frame the CRS stage reads."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.parsing import parse_lines
from detector.parsing.base import ParseContext
from detector.pipeline import frame_from

SHARED_CRS = Path(__file__).resolve().parents[2] / "shared" / "crs"

RULES = r'''
SecComponentSignature "OWASP_CRS/9.1.0"

SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 1" "id:100011,phase:1,pass,nolog,skipAfter:END-TEST"

# ARGS, with transformations: percent-decoding and lower case
SecRule ARGS|ARGS_NAMES "@rx union\s+select" \
    "id:100100,phase:2,block,capture,t:none,t:urlDecodeUni,t:lowercase,\
    msg:'SQL union',severity:'CRITICAL',tag:'attack-sqli',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# a header, phrase match
SecRule REQUEST_HEADERS:User-Agent "@pm nikto sqlmap" \
    "id:100200,phase:1,block,t:none,msg:'Scanner',severity:'CRITICAL',tag:'attack-reputation-scanner',\
    tag:'paranoia-level/1',setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# the referer, with html entities decoded
SecRule REQUEST_HEADERS:Referer "@rx <script" \
    "id:100300,phase:1,block,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase,msg:'XSS in referer',\
    severity:'CRITICAL',tag:'attack-xss',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# a chain: a .php path AND a cmd argument
SecRule REQUEST_FILENAME "@endsWith .php" \
    "id:100400,phase:2,block,t:none,msg:'PHP shell call',severity:'ERROR',tag:'attack-rce',\
    tag:'paranoia-level/1',chain"
    SecRule ARGS:cmd "@rx ^(?:id|whoami|uname)" \
        "t:none,t:cmdLine,setvar:'tx.inbound_anomaly_score_pl1=+%{tx.error_anomaly_score}'"

# a chain on the matched values themselves
SecRule ARGS "@rx \.\./" \
    "id:100500,phase:2,block,t:none,t:urlDecodeUni,msg:'Traversal to etc',severity:'WARNING',\
    tag:'attack-lfi',tag:'paranoia-level/1',chain"
    SecRule MATCHED_VARS "@contains etc/" "setvar:'tx.inbound_anomaly_score_pl1=+%{tx.warning_anomaly_score}'"

# phrases from a .data file, path normalized
SecRule REQUEST_FILENAME "@pmFromFile test-files.data" \
    "id:100600,phase:1,block,t:none,t:urlDecodeUni,t:normalizePath,msg:'Restricted file',\
    severity:'CRITICAL',tag:'attack-lfi',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# paranoia level 2 only
SecRule ARGS "@rx '" \
    "id:100700,phase:2,block,t:none,t:urlDecodeUni,msg:'Quote',severity:'NOTICE',tag:'attack-sqli',\
    tag:'paranoia-level/2',setvar:'tx.inbound_anomaly_score_pl2=+%{tx.notice_anomaly_score}'"

# a count: no User-Agent at all
SecRule &REQUEST_HEADERS:User-Agent "@eq 0" \
    "id:100800,phase:1,pass,t:none,msg:'No UA',severity:'NOTICE',tag:'attack-protocol',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.notice_anomaly_score}'"

# within a setup default (method allowed?)
SecRule REQUEST_METHOD "!@within %{tx.allowed_methods}" \
    "id:100900,phase:1,block,t:none,msg:'Method not allowed',severity:'CRITICAL',tag:'attack-protocol',\
    tag:'paranoia-level/1',setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# captures compared by a later rule of the chain
SecRule ARGS "@rx ^(\w+)=(\w+)$" \
    "id:101000,phase:2,block,capture,t:none,msg:'x=x',severity:'CRITICAL',tag:'attack-sqli',\
    tag:'paranoia-level/1',chain"
    SecRule TX:1 "@streq admin" "setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# a chain whose middle rule has no `capture`: TX:2 is still the first rule's second group
SecRule ARGS:ref "@rx ^([a-z]+):(.*)$" \
    "id:101100,phase:2,block,capture,t:none,t:urlDecodeUni,msg:'odd scheme, spaced path',severity:'CRITICAL',\
    tag:'attack-rce',tag:'paranoia-level/1',chain"
    SecRule TX:1 "@rx ^(?:ftp|gopher)$" "t:none,chain"
        SecRule TX:2 "@rx \s" "t:none,setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

# cannot run: the body only
SecRule REQUEST_BODY "@rx evil" \
    "id:109001,phase:2,block,msg:'body',severity:'CRITICAL',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
# cannot run: libinjection
SecRule ARGS "@detectSQLi" \
    "id:109002,phase:2,block,msg:'libinjection',severity:'CRITICAL',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
# cannot run: a lookahead RE2 rejects
SecRule ARGS "@rx a(?=b)" \
    "id:109003,phase:2,block,msg:'lookahead',severity:'CRITICAL',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
# cannot run: a transformation we do not have
SecRule ARGS "@rx x" \
    "id:109004,phase:2,block,t:none,t:sha1,msg:'sha1',severity:'CRITICAL',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
# partly fed: ARGS runs, XML is ignored
SecRule ARGS|XML:/* "@rx <!entity" \
    "id:101100,phase:2,block,t:none,t:lowercase,msg:'XXE',severity:'CRITICAL',tag:'attack-xxe',tag:'paranoia-level/1',\
    setvar:'tx.inbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"

SecMarker "END-TEST"
'''

SETUP = r'''
SecRule &TX:allowed_methods "@eq 0" "id:901160,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS'"
SecRule &TX:critical_anomaly_score "@eq 0" "id:901140,phase:1,pass,nolog,setvar:'tx.critical_anomaly_score=5'"
'''

RESPONSE = r'''
SecRule RESPONSE_BODY "@rx ORA-[0-9]+" "id:951100,phase:4,block,msg:'leak',severity:'CRITICAL',\
    setvar:'tx.outbound_anomaly_score_pl1=+%{tx.critical_anomaly_score}'"
'''

EXCEPTIONS = r'''
SecRuleUpdateTargetById 100100 "!ARGS:password"
'''


def write_crs(root: Path, rules: str = RULES) -> Path:
    """A CRS-shaped install under `root`: rules/*.conf and a phrase file."""
    folder = root / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "REQUEST-901-INITIALIZATION.conf").write_text(SETUP)
    (folder / "REQUEST-910-TEST.conf").write_text(rules)
    (folder / "REQUEST-999-COMMON-EXCEPTIONS-AFTER.conf").write_text(EXCEPTIONS)
    (folder / "RESPONSE-951-TEST.conf").write_text(RESPONSE)
    (folder / "test-files.data").write_text("# restricted files\n/etc/shadow\n.htpasswd\n")
    return root


def combined(path: str, ua: str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
             referer: str = "-", ip: str = "198.51.100.7", method: str = "GET") -> str:
    """An nginx combined line for a request target as the client sent it."""
    return f'{ip} - - [21/Nov/2026:10:00:00 +0000] "{method} {path} HTTP/1.1" 200 512 "{referer}" "{ua}"'


def request_frame(lines: list[str], fmt: str = "combined") -> pd.DataFrame:
    arr = pa.array(lines, pa.string())
    ctx = ParseContext(path="test.log", timezone="UTC", file_mtime=datetime(2026, 11, 21, tzinfo=timezone.utc))
    result = parse_lines(arr, fmt, ctx)
    offsets = np.arange(len(lines), dtype=np.int64) * 200
    return frame_from(result.table, arr, offsets, result.parsed_index, "test.log")
