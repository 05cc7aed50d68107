"""ATT&CK tactics of the techniques scenarios name, so a correlation step can say "any
credential-access finding" (MITRE ATT&CK Enterprise, technique -> tactics, as published).

A scenario's tactics are those of its techniques (sub-techniques inherit their technique's)
plus any `attack.<tactic>` tag it declares; a technique missing here contributes none.
"""

from __future__ import annotations

from collections.abc import Iterable

TACTICS = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
    "collection", "command-and-control", "exfiltration", "impact",
)

_RECON, _INITIAL, _EXEC, _PERSIST = ("reconnaissance",), ("initial-access",), ("execution",), ("persistence",)
_PRIVESC, _EVASION, _CREDS, _DISCOVERY = ("privilege-escalation",), ("defense-evasion",), ("credential-access",), ("discovery",)

TACTICS_OF: dict[str, tuple[str, ...]] = {
    # reconnaissance
    "T1589": _RECON, "T1590": _RECON, "T1592": _RECON, "T1593": _RECON, "T1594": _RECON,
    "T1595": _RECON, "T1596": _RECON, "T1597": _RECON, "T1598": _RECON,
    # initial access
    "T1189": _INITIAL, "T1190": _INITIAL, "T1566": _INITIAL, "T1195": _INITIAL, "T1199": _INITIAL,
    "T1133": _PERSIST + _INITIAL,
    "T1078": _EVASION + _PERSIST + _PRIVESC + _INITIAL,
    # execution
    "T1059": _EXEC, "T1203": _EXEC, "T1204": _EXEC, "T1053": _EXEC + _PERSIST + _PRIVESC,
    # persistence and privilege escalation
    "T1098": _PERSIST + _PRIVESC, "T1136": _PERSIST, "T1505": _PERSIST, "T1543": _PERSIST + _PRIVESC,
    "T1547": _PERSIST + _PRIVESC, "T1548": _PRIVESC + _EVASION, "T1068": _PRIVESC,
    # defense evasion
    "T1070": _EVASION, "T1562": _EVASION, "T1036": _EVASION,
    # credential access
    "T1003": _CREDS, "T1110": _CREDS, "T1212": _CREDS, "T1552": _CREDS, "T1555": _CREDS, "T1556": _CREDS + _EVASION + _PERSIST,
    # discovery
    "T1033": _DISCOVERY, "T1046": _DISCOVERY, "T1069": _DISCOVERY, "T1082": _DISCOVERY, "T1083": _DISCOVERY,
    "T1087": _DISCOVERY, "T1135": _DISCOVERY,
    # lateral movement, collection, command and control, exfiltration, impact
    "T1021": ("lateral-movement",), "T1210": ("lateral-movement",), "T1213": ("collection",), "T1005": ("collection",),
    "T1071": ("command-and-control",), "T1105": ("command-and-control",), "T1041": ("exfiltration",),
    "T1485": ("impact",), "T1486": ("impact",), "T1489": ("impact",), "T1499": ("impact",), "T1531": ("impact",),
}


def normalize_tactic(name: str) -> str:
    """`attack.credential_access`, `Credential Access`, `credential-access` -> `credential-access`."""
    name = name.strip().lower()
    if name.startswith("attack."):
        name = name[len("attack."):]
    return name.replace("_", "-").replace(" ", "-")


def tactics_of(techniques: Iterable[str], tags: Iterable[str] = ()) -> frozenset[str]:
    found: set[str] = set()
    for technique in techniques:
        found.update(TACTICS_OF.get(technique.split(".", 1)[0].upper(), ()))
    for tag in tags:
        tactic = normalize_tactic(tag)
        if tag.lower().startswith("attack.") and tactic in TACTICS:
            found.add(tactic)
    return frozenset(found)
