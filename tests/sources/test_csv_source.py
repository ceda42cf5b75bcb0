"""The CSV reader: encodings, banners, delimiters, headers, column choice, ragged rows, bad inputs."""

from __future__ import annotations

import gzip
import io
import os
import sys

import pandas as pd
import pytest

from enrich.model import IndicatorType, Status
from enrich.sources import csv_layout
from enrich.sources.csv import ONE_VALUE, CsvSource, describe
from enrich.sources.interface import SourceError
from enrich.sources.open import detect_format, expand_inputs, open_source, open_sources


def put(tmp_path, data: bytes | str, name: str = "in.csv"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def read(path: str, **kw) -> tuple[CsvSource, pd.DataFrame, list]:
    src = CsvSource(path, **kw)
    frames, inds = [], []
    for chunk in src.chunks():
        assert len(chunk.frame) == len(chunk.indicators)
        assert list(chunk.frame.columns) == src.columns()
        frames.append(chunk.frame)
        inds.extend(chunk.indicators)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=src.columns())
    return src, frame, inds


def types(inds) -> list[str]:
    return [";".join(i.type.value if i.type else "-" for i in row) for row in inds]


# ------------------------------------------------------------------------------ encodings
def test_utf8_with_and_without_bom(tmp_path):
    body = "value,note\nmünchen.example,ü\n198.51.100.1,x\n"
    for data in (body.encode(), b"\xef\xbb\xbf" + body.encode()):
        src, frame, inds = read(put(tmp_path, data))
        assert src.columns() == ["value", "note"]
        assert src.layout.encoding == "utf-8"
        assert frame["note"].tolist() == ["ü", "x"]
        assert types(inds) == ["domain", "ipv4"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_or_detected(tmp_path, codec):
    text = "indicator,comment\n198.51.100.7,café\nevil.example,b\n"
    src, frame, inds = read(put(tmp_path, text.encode(codec)))
    assert src.columns() == ["indicator", "comment"]
    assert frame["comment"].tolist() == ["café", "b"]
    assert types(inds) == ["ipv4", "domain"]


def test_cp1252_file(tmp_path):
    data = "ioc,Bemerkung\r\n198.51.100.7,Prüfung – “quoted”\r\n".encode("cp1252")
    src, frame, _ = read(put(tmp_path, data))
    assert src.layout.encoding == "cp1252"
    assert frame["Bemerkung"].tolist() == ["Prüfung – “quoted”"]


def test_late_invalid_byte_in_utf8_file(tmp_path):
    """A cp1252 byte after the sniffed sample is read as its cp1252 character, not an error."""
    rows = "".join(f"198.51.{i // 250}.{i % 250 + 1},ok é\n" for i in range(30_000))
    data = ("ip,note\n" + rows).encode() + b"203.0.113.5,caf\xe9 \x81\n"
    assert len(data) > csv_layout.SAMPLE_BYTES
    src, frame, inds = read(put(tmp_path, data))
    assert src.layout.encoding == "utf-8"
    assert len(frame) == 30_001
    assert frame["note"].iloc[0] == "ok é"
    assert frame["note"].iloc[-1] == "café \x81"
    assert inds[-1][0].value == "203.0.113.5"


def test_utf8_with_a_few_invalid_bytes_stays_utf8(tmp_path):
    """Not re-read whole as cp1252 (`Zürich` -> `ZÃ¼rich` in every row): only the stray bytes are
    read as cp1252, one by one; the lines holding them are named."""
    rows = [f"198.51.100.{i},Zürich {i}\n".encode() for i in range(1, 9)]
    rows[2] = b"198.51.100.3,caf\xe9 \x93quoted\x94\n"  # cp1252 bytes in a UTF-8 file
    rows[6] = "198.51.100.7,Zürich \x81".encode() + b"\x81\n"
    path = put(tmp_path, b"ip,city\n" + b"".join(rows))
    src, frame, _ = read(path)
    assert src.layout.encoding == "utf-8" and src.layout.stray_bytes
    assert frame["city"].tolist()[:2] == ["Zürich 1", "Zürich 2"]
    assert frame["city"].iloc[2] == "café \u201cquoted\u201d"
    assert frame["city"].iloc[6] == "Zürich \x81\x81"
    assert src.stray_lines() == (2, [4, 8])
    assert "(bytes that are not UTF-8 read as cp1252)" in describe(src)


def test_mostly_cp1252_file_is_read_as_cp1252(tmp_path):
    data = "ioc,Bemerkung\n198.51.100.7,Prüfung für Größe\n198.51.100.8,".encode("cp1252") + "é".encode()
    src, frame, _ = read(put(tmp_path, data + b"\n"))
    assert src.layout.encoding == "cp1252" and not src.layout.stray_bytes
    assert frame["Bemerkung"].iloc[0] == "Prüfung für Größe"
    assert src.stray_lines() == (0, [])


def test_late_invalid_bytes_are_found_once_the_file_was_read(tmp_path):
    rows = "".join(f"198.51.{i // 250}.{i % 250 + 1},ok\n" for i in range(30_000))
    data = ("ip,note\n" + rows).encode() + b"203.0.113.5,caf\xe9\n203.0.113.6,fine\n"
    src = CsvSource(put(tmp_path, data))
    assert not src.layout.stray_bytes and src.stray_lines() == (0, [])  # not in the sample
    for _ in src.chunks():
        pass
    assert src.stray_lines() == (1, [30_002])


def test_bom_is_noted(tmp_path):
    body = "value\n198.51.100.1\n"
    assert not CsvSource(put(tmp_path, body, "a.csv")).bom
    src = CsvSource(put(tmp_path, b"\xef\xbb\xbf" + body.encode(), "b.csv"))
    assert src.bom and "utf-8 with BOM," in describe(src)
    for codec in ("utf-16", "utf-16-le"):  # with BOM, and without (told from its NUL bytes)
        src = CsvSource(put(tmp_path, body.encode(codec), "c.csv"))
        assert src.bom == (codec == "utf-16")


# ------------------------------------------------------------------------------ delimiters
@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, delim):
    rows = [["value", "type", "score"], ["198.51.100.1", "ip", "0,5"], ["evil.example", "domain", "1,0"]]
    text = "\n".join(delim.join(f'"{c}"' if "," in c and delim == "," else c for c in r) for r in rows)
    src, frame, inds = read(put(tmp_path, text + "\n"))
    assert src.layout.delimiter == delim
    assert src.columns() == ["value", "type", "score"]
    assert frame["score"].tolist() == ["0,5", "1,0"]
    assert types(inds) == ["ipv4", "domain"]


def test_one_value_per_line_keeps_commas(tmp_path):
    src, frame, inds = read(put(tmp_path, "evil[.]example\nhttp://x.example/a,b\n198.51.100.3\n", "l.txt"))
    assert src.layout.delimiter == ONE_VALUE
    assert src.columns() == ["column_1"]
    assert frame["column_1"].tolist() == ["evil[.]example", "http://x.example/a,b", "198.51.100.3"]
    assert types(inds) == ["domain", "url", "ipv4"]


# ------------------------------------------------------------------------------ banners and headers
FEODO_LIKE = """#####################
# Example blocklist  #
# Terms: https://example.org/terms #
#####################
#
"first_seen_utc","dst_ip","dst_port","malware"
"2026-01-01 00:00:00","198.51.100.1","443","X"
"2026-01-02 00:00:00","198.51.100.2","8080","Y"
# END 2 entries"""


def test_banner_quoted_header_and_footer(tmp_path):
    src, frame, inds = read(put(tmp_path, FEODO_LIKE))
    assert src.columns() == ["first_seen_utc", "dst_ip", "dst_port", "malware"]
    assert src.indicator_column == "dst_ip"
    assert frame["dst_port"].tolist() == ["443", "8080"]
    assert len(inds) == 2


def test_header_in_comment_line(tmp_path):
    text = (
        "# URLhaus-like export\n# id,dateadded,url,tags\n"
        '"1","2026-01-01","http://198.51.100.9:8080/i#frag","elf,mips"\n'
        '"2","2026-01-02","https://evil.example/p","x"\n'
    )
    src, frame, inds = read(put(tmp_path, text))
    assert src.layout.header_source == "comment"
    assert src.columns() == ["id", "dateadded", "url", "tags"]
    assert frame["url"].tolist()[0] == "http://198.51.100.9:8080/i#frag"  # '#' inside data is data
    assert frame["tags"].tolist()[0] == "elf,mips"
    assert types(inds) == ["url", "url"]


def test_hash_inside_data_rows_is_kept(tmp_path):
    text = "url,n\nhttp://a.example/#x,1\n#not-a-comment,2\n# comment line\n"
    src, frame, _ = read(put(tmp_path, text))
    assert frame["url"].tolist() == ["http://a.example/#x", "#not-a-comment"]


def test_headerless_multi_column(tmp_path):
    text = "198.51.100.41,ipaddress,Known host\nevil.example,hostname,Domain\n"
    src, frame, inds = read(put(tmp_path, text))
    assert not src.layout.has_header
    assert src.columns() == ["column_1", "column_2", "column_3"]
    assert frame["column_1"].tolist() == ["198.51.100.41", "evil.example"]
    assert types(inds) == ["ipv4", "domain"]


def test_header_whose_name_looks_like_a_domain(tmp_path):
    text = "file.name,note\n" + "".join(f"{i:064x},n\n" for i in range(1, 6))
    src, frame, _ = read(put(tmp_path, text))
    assert src.layout.has_header
    assert src.columns() == ["file.name", "note"]
    assert len(frame) == 5


def test_header_only_file_has_no_rows(tmp_path):
    src, frame, inds = read(put(tmp_path, "value,type,description\n"))
    assert src.columns() == ["value", "type", "description"]
    assert len(frame) == 0 and inds == []


def test_header_with_spaces_after_commas(tmp_path):
    """Header names and cells keep their spaces (they are written back as read); --column matches
    a name without its outer spaces."""
    text = "IOC, Valid From, Link\n198.51.100.5:2222, 2026-01-01, https://ref.example/1\n"
    path = put(tmp_path, text)
    src, frame, inds = read(path)
    assert src.columns() == ["IOC", " Valid From", " Link"]
    assert frame[" Valid From"].tolist() == [" 2026-01-01"]
    assert inds[0][0].value == "198.51.100.5"
    assert CsvSource(path, column="Valid From").indicator_column == " Valid From"


# ------------------------------------------------------------------------------ column choice
def test_column_ip_port_beats_reference_links(tmp_path):
    rows = "".join(
        f"198.51.100.{i}:{2000 + i},2026-01-01,https://intel.example/objects/indicator--{i}\n"
        for i in range(1, 30)
    )
    src, _, inds = read(put(tmp_path, "IOC,Valid From,Link\n" + rows))
    assert src.indicator_column == "IOC"
    assert all(row[0].type is IndicatorType.IPV4 for row in inds)


def test_column_sophos_style_type_column_named_indicator(tmp_path):
    rows = "".join(f"sha256,{i:064X},note\n" for i in range(1, 20)) + "ip,198.51.100.9,n\n"
    src, _, inds = read(put(tmp_path, "Indicator,Data,Note\n" + rows))
    assert src.indicator_column == "Data"
    assert inds[0][0].type is IndicatorType.SHA256


def test_column_hosts_style_sinkhole_first(tmp_path):
    rows = "".join(f"127.0.0.1,bad{i}.example\n" for i in range(30))
    src, _, inds = read(put(tmp_path, "Address,url\n" + rows))
    assert src.indicator_column == "url"
    assert inds[0][0].value == "bad0.example"


def test_column_prefers_indicator_names_on_a_tie(tmp_path):
    rows = "".join(f"198.51.100.{i},evil{i}.example\n" for i in range(1, 10))
    src, _, _ = read(put(tmp_path, "resolved_ip,ioc\n" + rows))
    assert src.indicator_column == "ioc"


def test_column_override_by_name_and_number(tmp_path):
    path = put(tmp_path, "a,b\n198.51.100.1,evil.example\n198.51.100.2,bad.example\n")
    assert CsvSource(path, column="b").indicator_column == "b"
    assert CsvSource(path, column=" B ").indicator_column == "b"
    assert CsvSource(path, column="2").indicator_column == "b"
    _, _, inds = read(path, column="b")
    assert types(inds) == ["domain", "domain"]


def test_column_name_settles_the_header_question(tmp_path):
    # Without help the first row reads as data; naming a first-row cell says it is the header.
    path = put(tmp_path, "evil.example,198.51.100.1\nbad.example,198.51.100.2\n")
    assert not CsvSource(path).layout.has_header
    src = CsvSource(path, column="198.51.100.1")
    assert src.layout.has_header and src.indicator_column == "198.51.100.1"


def test_unknown_column_lists_the_columns(tmp_path):
    path = put(tmp_path, "value,type\n198.51.100.1,ip\n")
    with pytest.raises(SourceError) as err:
        CsvSource(path, column="ioc")
    msg = str(err.value)
    assert msg.startswith(path) and "'ioc'" in msg and "'value', 'type'" in msg and "\n" not in msg
    with pytest.raises(SourceError, match="number 1-2"):
        CsvSource(path, column="3")


# ------------------------------------------------------------------------------ rows
def test_quoted_newlines_and_leading_spaces(tmp_path):
    text = 'Indicator,Kill chain,Context\n198.51.100.1,"command-and-control \n",  Ryuk\r\nevil.example,"a, b",x\n'
    _, frame, inds = read(put(tmp_path, text))
    assert frame["Kill chain"].tolist() == ["command-and-control \n", "a, b"]
    assert frame["Context"].tolist() == ["  Ryuk", "x"]
    assert len(inds) == 2


def test_na_like_strings_stay_text(tmp_path):
    _, frame, _ = read(put(tmp_path, "value,x,y\nNA,null,None\nN/A,NaN,\n"))
    assert frame.values.tolist() == [["NA", "null", "None"], ["N/A", "NaN", ""]]


def test_ragged_rows_keep_everything(tmp_path):
    """Extra fields go under added columns extra_1, extra_2, ... (not merged into the last cell)."""
    text = (
        "value,type,description\n198.51.100.1,ip,Seen in X, Y and Z\nevil.example,domain\nbad.example\n"
        "worse.example,domain,a,b, c\n"
    )
    src, frame, inds = read(put(tmp_path, text))
    assert src.columns() == ["value", "type", "description", "extra_1", "extra_2"]
    assert frame.values.tolist() == [
        ["198.51.100.1", "ip", "Seen in X", " Y and Z", ""],
        ["evil.example", "domain", "", "", ""],
        ["bad.example", "", "", "", ""],
        ["worse.example", "domain", "a", "b", " c"],
    ]
    assert types(inds) == ["ipv4", "domain", "domain", "domain"]


def test_trailing_empty_fields_are_kept(tmp_path):
    src, frame, _ = read(
        put(tmp_path, "Indicator,Data,Note\nsha1,0123456789abcdef0123456789abcdef01234567,n,,,\n")
    )
    assert src.columns() == ["Indicator", "Data", "Note", "extra_1", "extra_2", "extra_3"]
    assert frame.values.tolist() == [["sha1", "0123456789abcdef0123456789abcdef01234567", "n", "", "", ""]]


def test_headerless_ragged_rows_get_more_numbered_columns(tmp_path):
    src, frame, _ = read(put(tmp_path, "198.51.100.1,ip\nevil.example,domain,x,\n"))
    assert src.columns() == ["column_1", "column_2", "column_3", "column_4"]
    assert frame.values.tolist() == [["198.51.100.1", "ip", "", ""], ["evil.example", "domain", "x", ""]]


def test_leading_and_trailing_spaces_are_kept(tmp_path):
    text = 'value,note, tag \n  007 ,  x ,"  quoted  "\n 198.51.100.1,\ty,\n'
    src, frame, inds = read(put(tmp_path, text))
    assert not src.layout.skip_space
    assert src.columns() == ["value", "note", " tag "]
    assert frame.values.tolist() == [["  007 ", "  x ", "  quoted  "], [" 198.51.100.1", "\ty", ""]]
    assert inds[0][0].value == "007" and inds[1][0].value == "198.51.100.1"  # classified trimmed


def test_a_quote_inside_a_spaced_cell_is_not_padding(tmp_path):
    text = 'value,size,note\n198.51.100.1,  5" floppy,"  ""a"", b"\n'
    src, frame, _ = read(put(tmp_path, text))
    assert not src.layout.skip_space
    assert frame.values.tolist() == [["198.51.100.1", '  5" floppy', '  "a", b']]


def test_fields_padded_before_their_quotes_are_still_quoted(tmp_path):
    """ThreatFox pads with `, "`: the spaces are skipped so the quotes quote (and commas stay inside)."""
    text = (
        '"first_seen_utc", "ioc_value", "tags"\n'
        '"2026-01-01 00:00:00", "198.51.100.7:80", "elf, mips"\n'
        '"2026-01-02 00:00:00", "evil.example", "None"\n'
    )
    src, frame, inds = read(put(tmp_path, text))
    assert src.layout.skip_space
    assert src.columns() == ["first_seen_utc", "ioc_value", "tags"]
    assert frame["tags"].tolist() == ["elf, mips", "None"]
    assert types(inds) == ["ipv4", "domain"]


def test_ragged_row_after_the_sample_switches_reader(tmp_path):
    """A wider row after the sniffed sample: the source gets more columns from there on; the next
    pass has them from the start."""
    good = "".join(f"198.51.{i // 250}.{i % 250 + 1},ip,plain\n" for i in range(20_000))
    text = "value,type,description\n" + good + "evil.example,domain,has, two, extra\n" + good
    src = CsvSource(put(tmp_path, text), chunk_rows=3_000)
    assert src.columns() == ["value", "type", "description"] and not src.layout.whole
    widths = [c.frame.shape[1] for c in src.chunks()]
    assert widths[0] == 3 and widths[-1] == 5
    assert src.columns() == ["value", "type", "description", "extra_1", "extra_2"]
    src2 = CsvSource(src.path, chunk_rows=3_000)
    src2.settle_columns()  # one pass, so that the next one has every column from the start
    assert src2.columns() == src.columns()
    frames = [c.frame for c in src2.chunks()]
    assert all(f.shape[1] == 5 for f in frames)
    frame = pd.concat(frames, ignore_index=True)
    assert len(frame) == 40_001
    assert frame.iloc[20_000].tolist() == ["evil.example", "domain", "has", " two", " extra"]
    assert frame["value"].iloc[19_999] == good.splitlines()[-1].split(",")[0]
    assert frame["value"].tolist()[:20_000] == frame["value"].tolist()[20_001:]
    assert (frame["extra_1"] != "").sum() == 1
    assert src2._python_reader  # the second pass reads with the csv module from the start


def test_unterminated_quote_keeps_the_rest(tmp_path):
    _, frame, _ = read(put(tmp_path, 'value,note\n198.51.100.1,"open quote\nevil.example,x\n'))
    assert frame["value"].tolist() == ["198.51.100.1"]
    assert frame["note"].tolist() == ["open quote\nevil.example,x\n"]


def test_multi_hash_cell(tmp_path):
    cell = ",".join(["a" * 40, "b" * 64, "c" * 32])
    _, _, inds = read(put(tmp_path, f'value,type\n"{cell}",file\n'))
    assert types(inds) == ["sha1;sha256;md5"]


def test_chunks_can_be_read_twice(tmp_path):
    src = CsvSource(put(tmp_path, FEODO_LIKE), chunk_rows=1)
    first = [c.frame.values.tolist() for c in src.chunks()]
    assert first == [c.frame.values.tolist() for c in src.chunks()]
    assert len(first) == 2


def test_duplicate_column_names_are_kept(tmp_path):
    src, frame, _ = read(put(tmp_path, "value,x,x\n198.51.100.1,1,2\n"))
    assert src.columns() == ["value", "x", "x"]
    assert frame.values.tolist() == [["198.51.100.1", "1", "2"]]


def test_same_cells_share_one_indicator_tuple(tmp_path):
    _, _, inds = read(put(tmp_path, "v\n198.51.100.1\n198.51.100.1\n"))
    assert inds[0] is inds[1]


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "is empty"),
        (b"  \n\n\t\n", "is empty (only blank lines)"),
        (b"# only\n# comments\n", "no data"),
        (bytes(range(256)) * 8, "binary data"),
        (gzip.compress(b"a,b\n1,2\n"), "gzip-compressed"),
        (b"PK\x03\x04rest of a zip", "zip archive"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08ab\x0e\x0f\x10\x11\n" * 50, "binary data"),
    ],
)
def test_bad_content_is_one_line_source_error(tmp_path, data, problem):
    path = put(tmp_path, data)
    with pytest.raises(SourceError) as err:
        CsvSource(path)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        CsvSource(str(tmp_path / "nope.csv"))
    with pytest.raises(SourceError, match="is a directory"):
        CsvSource(str(tmp_path))
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "nope.csv"))
    with pytest.raises(SourceError, match="is a directory"):
        open_source(str(tmp_path))


def test_unreadable_file(tmp_path, monkeypatch):
    path = put(tmp_path, "a\n1\n")
    if os.geteuid() != 0:
        os.chmod(path, 0)
    else:  # root reads anything: simulate the refusal
        real_open = open

        def refuse(file, *a, **k):
            if file == path:
                raise PermissionError(13, "Permission denied")
            return real_open(file, *a, **k)

        monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(SourceError, match="permission denied"):
        open_source(path)


# ------------------------------------------------------------------------------ open_source / open_sources
def test_detect_format():
    assert detect_format(b'  \n{"type": "bundle"}') == "json"
    assert detect_format(b"\xef\xbb\xbf[\n  {") == "json"
    assert detect_format("[{}]".encode("utf-16")) == "json"
    assert detect_format(b"[2001:db8::1]\n[2001:db8::2]\n") == "csv"
    assert detect_format(b"evil[.]example\n") == "csv"
    assert detect_format(b"value,type\n") == "csv"


def test_open_source_json_goes_to_stix(tmp_path):
    bundle = (
        '{"type": "bundle", "id": "bundle--1", "objects": [{"type": "ipv4-addr", "value": "198.51.100.1"}]}'
    )
    src = open_source(put(tmp_path, bundle, "b.json"))
    assert src.format in ("stix", "jsonl")
    rows = [i for c in src.chunks() for i in c.indicators]
    assert rows and rows[0][0].value == "198.51.100.1"


def test_open_source_bracketed_ipv6_list_is_csv(tmp_path):
    src = open_source(put(tmp_path, "[2001:db8::1]\n[2001:db8::2]\n", "v6.txt"))
    assert src.format == "csv"
    assert [r[0].type for c in src.chunks() for r in c.indicators] == [IndicatorType.IPV6] * 2


def test_open_source_without_stix_module(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "enrich.sources.stix", None)
    path = put(tmp_path, '{"type": "bundle"}', "b.json")
    with pytest.raises(SourceError, match="STIX support not installed"):
        open_source(path)


def test_stdin_is_spooled_and_rereadable(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(b"ioc\n198.51.100.1\nevil[.]example\n"))
    monkeypatch.setattr(sys, "stdin", fake)
    src = open_source("-")
    assert src.name == "-"
    once = [i for c in src.chunks() for i in c.indicators]
    twice = [i for c in src.chunks() for i in c.indicators]
    assert once == twice and types(once) == ["ipv4", "domain"]


def test_stdin_json(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(b'{"type": "ipv4-addr", "value": "198.51.100.1"}\n'))
    monkeypatch.setattr(sys, "stdin", fake)
    src = open_source("-")
    assert src.name == "-" and src.format in ("stix", "jsonl")


def test_open_sources_expands_directories(tmp_path):
    for name in ("b.csv", "a.txt", "c.json", "d.jsonl", "e.tsv", ".hidden.csv", "notes.md"):
        put(
            tmp_path,
            "v\n198.51.100.1\n" if not name.endswith(("json", "jsonl")) else '{"type": "bundle"}',
            name,
        )
    (tmp_path / "sub.csv").mkdir()
    names = [os.path.basename(p) for p in expand_inputs([str(tmp_path)])]
    assert names == ["a.txt", "b.csv", "c.json", "d.jsonl", "e.tsv"]
    sources = open_sources([str(tmp_path / "b.csv"), str(tmp_path / "a.txt")])
    assert [s.name for s in sources] == [str(tmp_path / "b.csv"), str(tmp_path / "a.txt")]


def test_open_sources_empty_directory(tmp_path):
    with pytest.raises(SourceError, match="holds no input files"):
        open_sources([str(tmp_path)])


def test_statuses_are_from_the_classifier(tmp_path):
    _, _, inds = read(put(tmp_path, "v\nuser@evil.example\n198.51.100.0/24\njunk value\n"))
    assert [r[0].status for r in inds] == [Status.UNSUPPORTED, Status.UNSUPPORTED, Status.INVALID]


def test_commented_header_with_no_entries(tmp_path):
    src, frame, inds = read(put(tmp_path, "# export\n# id,dateadded,url\n# END 0 entries\n"))
    assert src.columns() == ["id", "dateadded", "url"]
    assert len(frame) == 0 and inds == []


def test_describe_says_how_a_file_was_read(tmp_path):
    src = CsvSource(put(tmp_path, "a;b\n198.51.100.1;x\n198.51.100.2;y\n"))
    assert describe(src).endswith("utf-8, delimiter ';', header row, indicators from column 'a'")


@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_a_wide_comment_line_never_widens_the_columns(tmp_path, chunk_rows):
    path = tmp_path / "c.csv"
    path.write_text("h1,h2,h3\n,\n#,,,\n,\n", encoding="utf-8")
    source = CsvSource(str(path), chunk_rows=chunk_rows)
    rows = [r for c in source.chunks() for r in c.frame.values.tolist()]
    assert rows == [["", "", ""], ["", "", ""]] and source.columns() == ["h1", "h2", "h3"]
