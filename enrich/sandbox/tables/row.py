"""`Row`: one hunting-table row, a read-only Mapping column -> value over a shared column index.

Every row of a table shares one `Layout` (the column names, their positions and the empty value
of each column), and holds only a tuple of values, so a 60-column row costs a tuple instead of a
60-entry dict. Empty means ``""`` for string columns and None for the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence


def empty_value(kql_type: str) -> object:
    """The value of a column the data has nothing for: "" for strings, None otherwise."""
    return "" if kql_type == "string" else None


class Layout:
    """The columns of one table: names in order, position by name, and the all-empty row."""

    __slots__ = ("empty", "index", "names", "table", "types")

    def __init__(self, table: str, columns: Sequence[tuple[str, str]]) -> None:
        self.table = table
        self.names: tuple[str, ...] = tuple(name for name, _ in columns)
        self.types: dict[str, str] = dict(columns)
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        self.empty: tuple[object, ...] = tuple(empty_value(kql_type) for _, kql_type in columns)

    def row(self, values: Mapping[str, object], extra: Mapping[str, object] | None = None) -> Row:
        """A row with `values` set and every other column empty; an unknown column is a bug.

        `extra` (a shared column group, such as the InitiatingProcess* columns) fills only the
        columns this table has, and never one `values` sets.
        """
        cells = list(self.empty)
        index = self.index
        if extra:
            for name, value in extra.items():
                i = index.get(name)
                if i is not None:
                    cells[i] = value
        for name, value in values.items():
            try:
                cells[index[name]] = value
            except KeyError:
                raise KeyError(f"{self.table} has no column {name!r}") from None
        return Row(self, tuple(cells))


class Row(Mapping[str, object]):
    """A read-only mapping of every column of its table to its value."""

    __slots__ = ("_layout", "_values")

    def __init__(self, layout: Layout, values: tuple[object, ...]) -> None:
        self._layout = layout
        self._values = values

    def __getitem__(self, key: str) -> object:
        return self._values[self._layout.index[key]]

    def get(self, key: str, default: object = None) -> object:
        i = self._layout.index.get(key)
        return default if i is None else self._values[i]

    def __contains__(self, key: object) -> bool:
        return key in self._layout.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout.names)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._layout.names == other._layout.names and self._values == other._values
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking mapping: not hashable, like dict

    def __repr__(self) -> str:
        return f"Row({self._layout.table}, {dict(self.items())!r})"

    @property
    def table(self) -> str:
        """The name of the table this row belongs to."""
        return self._layout.table
