"""The classifier's fast paths and the classify worker give exactly what the slow paths give."""

from __future__ import annotations

import io
import random
import string
from concurrent.futures import Future

from hypothesis import given, settings
from hypothesis import strategies as st

from enrich import classify_job
from enrich.classify_job import classify_files
from enrich.indicators import _classify, _fast

HEX = "0123456789abcdefABCDEF"
LABEL = st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=12)


def octet():
    return st.one_of(st.integers(0, 255).map(str), st.sampled_from(["00", "01", "256", "999", "10"]))


plain_tokens = st.one_of(
    st.integers(16, 70).flatmap(lambda n: st.text(HEX, min_size=n, max_size=n)),
    st.tuples(octet(), octet(), octet(), octet()).map(".".join),
    st.tuples(
        st.lists(LABEL, min_size=1, max_size=3),
        st.sampled_from(["com", "example", "xn--p1ai", "exe", "7z", "c0m", "io"]),
    ).map(lambda p: ".".join([*p[0], p[1]])),
    st.tuples(
        st.sampled_from(["http://", "https://", "hxxp://", "hxxps://", "HTTP://", "ftp://"]),
        st.lists(LABEL, min_size=1, max_size=3),
        st.sampled_from(["", ":8080", ":0", ":99999"]),
        st.sampled_from(["", "/", "/a/b.php?x=1&y=%20#f", "/?q=[.]"]),
    ).map(lambda p: p[0] + ".".join([*p[1], "com"]) + p[2] + p[3]),
    st.lists(LABEL, min_size=2, max_size=4).map("[.]".join),
    st.sampled_from(
        ["::1", "2001:db8::1", "fe80::1%eth0", "2001:DB8:0:0:0:0:0:1", "::ffff:10.0.0.1", "1::2::3"]
    ),
    st.text(max_size=30),
)


@settings(max_examples=1500, deadline=None)
@given(plain_tokens)
def test_fast_path_equals_the_slow_path(token):
    fast = _fast(token)
    if fast is not None:
        assert fast == _classify(token), token


def mixed_csv(rows: int) -> str:
    rng = random.Random(9)
    out = io.StringIO()
    out.write("indicator,comment\n")
    for i in range(rows):
        kind = i % 7
        if kind == 0:
            value = f"{rng.getrandbits(256):064x}"
        elif kind == 1:
            value = f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        elif kind == 2:
            value = f"host{rng.randrange(10**6)}[.]example[.]com"
        elif kind == 3:
            value = f"hxxp://evil{rng.randrange(10**6)}.example/p?id={i}"
        elif kind == 4:
            value = f"{rng.getrandbits(128):032x},{rng.getrandbits(160):040x}"
        elif kind == 5:
            value = "=cmd|' /C calc'!A0" if i % 2 else ""
        else:
            value = f"2001:db8::{rng.randrange(65536):x}"
        out.write(f'"{value}",row {i}\n')
    return out.getvalue()


def test_worker_output_is_identical_to_in_process(tmp_path, monkeypatch):
    # small pieces, and the parent never takes a piece back: every piece is done by the worker
    monkeypatch.setattr(classify_job, "_PART_ROWS", 2000)
    monkeypatch.setattr(classify_job.CsvTexts, "_take_back", lambda self, pending: False)
    futures = []
    start = classify_job.CsvTexts._start

    def spy(self, distinct):
        found = start(self, distinct)
        futures.append(found[0])
        return found

    monkeypatch.setattr(classify_job.CsvTexts, "_start", spy)
    src = tmp_path / "in.csv"
    src.write_text(mixed_csv(30_000))
    alone, helped = tmp_path / "alone.csv", tmp_path / "helped.csv"
    counts_alone = classify_files([str(src)], str(alone), None, True, None, err=io.StringIO(), workers=0)
    counts_helped = classify_files([str(src)], str(helped), None, True, None, err=io.StringIO(), workers=1)
    assert alone.read_bytes() == helped.read_bytes()
    worked = [f for f in futures if isinstance(f, Future)]
    assert len(worked) >= 10 and all(f.done() and f.exception() is None for f in worked)
    assert counts_alone == counts_helped
    assert len(alone.read_text().splitlines()) == 30_001
