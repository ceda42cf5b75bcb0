import pytest

from enrich.units import parse_duration


@pytest.mark.parametrize(
    ("text", "unit", "seconds"),
    [
        ("30d", "s", 2592000),
        ("12h", "s", 43200),
        ("90m", "s", 5400),
        ("45s", "s", 45),
        ("7", "d", 604800),
        ("1.5h", "s", 5400),
        ("2 days", "s", 172800),
        ("3 hours", "s", 10800),
    ],
)
def test_parse_duration(text, unit, seconds):
    assert parse_duration(text, unit) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10 parsecs", "-3h", "h"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError, match="duration|unit"):
        parse_duration(text)
