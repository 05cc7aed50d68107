"""The line-aware safe YAML loader every rule, config and policy file goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.yamlsafe import (
    LineDict,
    LineList,
    YamlProblem,
    line_of,
    load_yaml_file,
    load_yaml_text,
)

DOC = """\
# comment
name: logwarden
rules:
  first:
    condition: sel
  second: {condition: other}
items:
  - one
  - {k: v}
  -
    - nested
"""


def test_line_numbers_of_mappings_keys_and_items_are_kept() -> None:
    data = load_yaml_text(DOC, "doc.yaml")
    assert isinstance(data, LineDict) and isinstance(data["items"], LineList)
    assert data.line == 2
    assert data.key_lines == {"name": 2, "rules": 3, "items": 7}
    assert data["rules"].key_lines == {"first": 4, "second": 6}
    assert data["rules"]["first"].line_of("condition") == 5
    assert data["rules"]["second"].line == 6
    assert data["items"].line == 8
    assert data["items"].item_lines == [8, 9, 11]
    assert data["items"][2].line == 11
    assert line_of(data, "rules") == 3
    assert line_of(data["items"], 1) == 9
    assert line_of(data, "absent") == 2  # falls back to the mapping's own line
    assert line_of("plain", "x") == 0
    assert data == {
        "name": "logwarden",
        "rules": {"first": {"condition": "sel"}, "second": {"condition": "other"}},
        "items": ["one", {"k": "v"}, ["nested"]],
    }


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    with pytest.raises(YamlProblem) as caught:
        load_yaml_text("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n", "dup.yaml")
    assert str(caught.value) == "dup.yaml:5: invalid YAML: duplicate key 'c' (first at line 3); keep one of them"
    with pytest.raises(YamlProblem) as caught:
        load_yaml_text("a: 1\n1: x\n'1': y\n", "dup.yaml")
    assert str(caught.value) == "dup.yaml:3: invalid YAML: duplicate key '1' (first at line 2); keep one of them"


@pytest.mark.parametrize(
    ("text", "line", "tag"),
    [
        ('run: !!python/object/apply:os.system ["touch {marker}"]\n', 1, "tag:yaml.org,2002:python/object/apply:os.system"),
        ("ok: 1\nx: !!python/object:collections.OrderedDict {{}}\n", 2, "tag:yaml.org,2002:python/object:collections.OrderedDict"),
        ("x: !!python/name:os.system\n", 1, "tag:yaml.org,2002:python/name:os.system"),
        ("x: !custom 1\n", 1, "!custom"),
    ],
)
def test_unsafe_and_unknown_tags_are_rejected(tmp_path: Path, text: str, line: int, tag: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(YamlProblem) as caught:
        load_yaml_text(text.format(marker=marker), "evil.yaml")
    assert str(caught.value) == f"evil.yaml:{line}: invalid YAML: could not determine a constructor for the tag '{tag}'"
    assert not marker.exists()


def test_complex_keys_are_rejected() -> None:
    with pytest.raises(YamlProblem) as caught:
        load_yaml_text("x: 1\n? [a, b]\n: 1\n", "keys.yaml")
    assert str(caught.value) == "keys.yaml:2: invalid YAML: mapping keys must be plain scalars"


def test_syntax_errors_name_file_and_line() -> None:
    with pytest.raises(YamlProblem) as caught:
        load_yaml_text("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert str(caught.value) == "bad.yaml:3: invalid YAML: expected ',' or ']', but got ':'"


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(YamlProblem) as caught:
        load_yaml_file(missing)
    assert str(caught.value).startswith(f"{missing}:0: cannot read: ")
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(YamlProblem) as caught:
        load_yaml_file(binary)
    assert str(caught.value).startswith(f"{binary}:0: cannot read: 'utf-8' codec can't decode byte 0xe9")
    good = tmp_path / "good.yaml"
    good.write_text("a: [1, 2]\n")
    assert load_yaml_file(good) == {"a": [1, 2]}
