"""``invoke FileProfile(x, y)``: advanced hunting's file enrichment, fed by a hook.

MDE's ``FileProfile()`` adds what Microsoft knows of each file (prevalence, signer, threat name...)
to the first ``y`` rows (1..1000, default 100), looked up by the hash in column ``x`` (``SHA1`` by
default).  The sandbox gets the data from ``file_profile(hash) -> mapping | None`` (the dataset's
profiles); without a hook, or for an unknown hash, the profile columns stay empty and
``ProfileAvailability`` says ``Unavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from enrich.sandbox.kql.plan import Plan
from enrich.sandbox.kql.values import Extended, Row, _getter, _to_bool, _to_long, _to_string, _to_ticks
from enrich.sandbox.tables import FILE_PROFILE

#: The columns FileProfile() adds, in its order, with their KQL types (the dataset's definition).
PROFILE_COLUMNS: list[tuple[str, str]] = list(FILE_PROFILE)
_HASH_COLUMNS = ("SHA1", "SHA256", "MD5")
_CONVERT: dict[str, Callable[[object], object]] = {
    "string": _to_string,
    "int": _to_long,
    "long": _to_long,
    "bool": _to_bool,
    "datetime": _to_ticks,
}


def file_profile_plan(
    schema: list[tuple[str, str]],
    run: Callable[[], list[Row]],
    column: str,
    limit: int,
    hook: Callable[[str], Mapping[str, object] | None] | None,
) -> Plan:
    """The plan of ``src | invoke FileProfile(column, limit)``."""
    types = dict(schema)
    out_schema = list(schema)
    for name, kql_type in PROFILE_COLUMNS:
        if name not in types:
            out_schema.append((name, kql_type))
    get_hash = _getter(column, types[column])
    own_hashes = {name: _getter(name, types[name]) for name in _HASH_COLUMNS if name in types}

    def lookup(value: str, cache: dict[str, Mapping[str, object] | None]) -> Mapping[str, object] | None:
        key = value.lower()
        if key not in cache:
            try:
                cache[key] = hook(key) if hook is not None else None
            except Exception:  # a failing data source must not take the query down
                cache[key] = None
        return cache[key]

    def enrich() -> list[Row]:
        rows = run()
        cache: dict[str, Mapping[str, object] | None] = {}
        out: list[Row] = []
        for i, row in enumerate(rows):
            new: dict[str, object] = {}
            value = _to_string(get_hash(row)).strip()
            profile = lookup(value, cache) if i < limit and value else None
            for name, kql_type in PROFILE_COLUMNS:
                if name in own_hashes:
                    own = own_hashes[name](row)
                    if own:
                        new[name] = own
                        continue
                raw = profile.get(name) if profile is not None else None
                if name == "ProfileAvailability":
                    new[name] = _to_string(raw) or ("Available" if profile is not None else "Unavailable")
                else:
                    new[name] = (
                        _CONVERT[kql_type](raw) if raw is not None else ("" if kql_type == "string" else None)
                    )
            out.append(Extended(row, new))
        return out

    return Plan(out_schema, enrich)
