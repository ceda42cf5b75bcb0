import pytest

from enrich.mde.times import iso_utc


@pytest.mark.parametrize(
    ("mde", "shown"),
    [
        ("2017-09-19T03:51:27.6785431Z", "2017-09-19T03:51:27.678Z"),  # MDE's 7-digit fraction, truncated
        ("2017-09-19T03:51:27.9999999Z", "2017-09-19T03:51:27.999Z"),  # never rounds into the next second
        ("2017-09-19T03:51:27Z", "2017-09-19T03:51:27.000Z"),
        ("2017-09-19T03:51:27.5+01:00", "2017-09-19T02:51:27.500Z"),
        ("2017-09-19 03:51:27.12", "2017-09-19T03:51:27.120Z"),
        (None, ""),
        ("", ""),
        ("not a time", "not a time"),
    ],
)
def test_mde_timestamps_become_iso_utc_milliseconds(mde, shown):
    assert iso_utc(mde) == shown
