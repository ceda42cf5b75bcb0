"""Aggregation functions of ``summarize``: count, dcount, min/max, sum/avg, make_set/make_list, arg_max...

The compiler resolves an aggregation call to an :class:`Aggregate`: output columns, a fresh-state
factory, a per-row step and a finisher.  States are small mutable lists, so a step never allocates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from enrich.sandbox.kql.values import Row

_NUMERIC = frozenset({"int", "long", "real"})
#: make_set/make_list default size limit (Kusto's).
MAX_SET_SIZE = 1_048_576

RowFn = Callable[[Row], object]


@dataclass(slots=True)
class Aggregate:
    """One aggregation: ``columns`` are its output (name, type); ``step(state, row)`` folds a row in;
    ``finish(state)`` gives one value per output column."""

    columns: list[tuple[str, str]]
    new: Callable[[], list[Any]]
    step: Callable[[list[Any], Row], None]
    finish: Callable[[list[Any]], list[object]]


@dataclass(slots=True)
class Arg:
    """A compiled argument: its KQL type, row function, constant value (if constant) and inferred name."""

    type: str
    fn: RowFn
    const: bool
    value: object
    name: str | None


class AggregateError(Exception):
    """An aggregation used with arguments it does not take (message worded like Kusto's)."""


#: Aggregation name -> (min args, max args, default column prefix).
SIGNATURES: dict[str, tuple[int, int | None, str]] = {
    "count": (0, 1, "count"),
    "countif": (1, 1, "countif"),
    "dcount": (1, 2, "dcount"),
    "dcountif": (2, 3, "dcountif"),
    "min": (1, 1, "min"),
    "max": (1, 1, "max"),
    "minif": (2, 2, "minif"),
    "maxif": (2, 2, "maxif"),
    "sum": (1, 1, "sum"),
    "sumif": (2, 2, "sumif"),
    "avg": (1, 1, "avg"),
    "avgif": (2, 2, "avgif"),
    "make_set": (1, 2, "set"),
    "make_set_if": (2, 3, "set"),
    "make_list": (1, 2, "list"),
    "make_list_if": (2, 3, "list"),
    "arg_max": (1, None, "max"),
    "arg_min": (1, None, "min"),
    "take_any": (1, None, ""),
    "any": (1, None, "any"),
    "take_anyif": (2, 2, ""),
    "count_distinct": (1, 1, "count_distinct"),
    "count_distinctif": (2, 2, "count_distinctif"),
    "stdev": (1, 1, "stdev"),
    "stdevif": (2, 2, "stdevif"),
    "stdevp": (1, 1, "stdevp"),
    "variance": (1, 1, "variance"),
    "varianceif": (2, 2, "varianceif"),
    "variancep": (1, 1, "variancep"),
    "percentile": (2, 2, "percentile"),
    "percentiles": (2, None, "percentile"),
    "make_bag": (1, 2, "bag"),
    "make_bag_if": (2, 3, "bag"),
    "make_list_with_nulls": (1, 2, "list"),
}
#: Deprecated names Kusto still accepts (``makeset`` in older hunting queries), as their aggregation.
ALIASES: dict[str, str] = {
    "makeset": "make_set",
    "makelist": "make_list",
    "argmax": "arg_max",
    "argmin": "arg_min",
}
AGGREGATES = frozenset(SIGNATURES) | frozenset(ALIASES)


def hashable(value: object) -> object:
    """A dict/set key for a value of the model (dynamic arrays and bags by their JSON text)."""
    if isinstance(value, list | dict):
        return "\0json" + json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bool):
        return ("\0bool", value)
    return value


def _predicate(arg: Arg) -> RowFn:
    if arg.type != "bool":
        raise AggregateError(f"the predicate argument must be of type bool, not {arg.type}")
    return arg.fn


def _limit(arg: Arg | None) -> int:
    if arg is None:
        return MAX_SET_SIZE
    if not arg.const or arg.type not in ("int", "long") or not isinstance(arg.value, int) or arg.value < 1:
        raise AggregateError("the size limit must be a positive integer constant")
    return arg.value


def build(
    func: str,
    args: Sequence[Arg],
    name: str | None,
    star_columns: Sequence[tuple[str, str, RowFn]],
) -> Aggregate:
    """The :class:`Aggregate` of ``func(args)``; ``name`` is the alias (or None to infer it);
    ``star_columns`` (name, type, getter) are what ``*`` stands for in arg_max/arg_min/take_any."""
    func = ALIASES.get(func, func)
    low, high, prefix = SIGNATURES[func]
    pred: RowFn | None
    if len(args) < low or (high is not None and len(args) > high):
        expected = str(low) if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
        raise AggregateError(f"aggregate function '{func}' expects {expected} argument(s), got {len(args)}")

    def column_name(arg: Arg | None) -> str:
        if name is not None:
            return name
        if arg is None or arg.name is None:
            return f"{prefix}_"
        return f"{prefix}_{arg.name}" if prefix else arg.name

    if func in ("count", "countif"):
        if func == "countif":
            cond = _predicate(args[0])
            return Aggregate(
                [(column_name(None), "long")],
                lambda: [0],
                lambda s, row: s.__setitem__(0, s[0] + 1) if cond(row) is True else None,
                lambda s: [s[0]],
            )
        if args:
            f = args[0].fn
            return Aggregate(
                [(column_name(None), "long")],
                lambda: [0],
                lambda s, row: s.__setitem__(0, s[0] + 1) if f(row) not in (None, "") else None,
                lambda s: [s[0]],
            )

        def count_step(s: list[Any], row: Row) -> None:
            s[0] += 1

        return Aggregate([(column_name(None), "long")], lambda: [0], count_step, lambda s: [s[0]])

    if func in ("dcount", "dcountif"):
        f = args[0].fn
        pred = _predicate(args[1]) if func == "dcountif" else None

        def dcount_step(s: list[Any], row: Row) -> None:
            if pred is not None and pred(row) is not True:
                return
            v = f(row)
            if v is not None:
                s[0].add(hashable(v))

        return Aggregate(
            [(column_name(args[0]), "long")], lambda: [set()], dcount_step, lambda s: [len(s[0])]
        )

    if func in ("min", "max", "minif", "maxif"):
        arg = args[0]
        if arg.type == "dynamic":
            raise AggregateError(f"aggregate function '{func}' cannot be applied to a dynamic value")
        f = arg.fn
        pred = _predicate(args[1]) if func.endswith("if") else None
        is_min = func.startswith("min")

        def extreme_step(s: list[Any], row: Row) -> None:
            if pred is not None and pred(row) is not True:
                return
            v = f(row)
            if v is None:
                return
            best = s[0]
            if best is None or (v < best if is_min else v > best):
                s[0] = v

        return Aggregate([(column_name(arg), arg.type)], lambda: [None], extreme_step, lambda s: [s[0]])

    if func in ("sum", "sumif", "avg", "avgif"):
        arg = args[0]
        if arg.type not in _NUMERIC and arg.type != "timespan":
            raise AggregateError(f"aggregate function '{func}' expects a numeric argument, not {arg.type}")
        f = arg.fn
        pred = _predicate(args[1]) if func.endswith("if") else None

        def sum_step(s: list[Any], row: Row) -> None:
            if pred is not None and pred(row) is not True:
                return
            v = f(row)
            if v is not None:
                s[0] += v
                s[1] += 1

        if func.startswith("sum"):
            result_type = "real" if arg.type == "real" else "timespan" if arg.type == "timespan" else "long"
            return Aggregate(
                [(column_name(arg), result_type)],
                lambda: [0, 0],
                sum_step,
                lambda s: [s[0] if s[1] else None],
            )
        avg_type = "timespan" if arg.type == "timespan" else "real"

        def avg_finish(s: list[Any]) -> list[object]:
            if not s[1]:
                return [None]
            return [s[0] // s[1] if avg_type == "timespan" else s[0] / s[1]]

        return Aggregate([(column_name(arg), avg_type)], lambda: [0, 0], sum_step, avg_finish)

    if func in ("make_set", "make_set_if", "make_list", "make_list_if"):
        arg = args[0]
        f = arg.fn
        conditional = func.endswith("_if")
        pred = _predicate(args[1]) if conditional else None
        limit = _limit(
            args[2]
            if conditional and len(args) > 2
            else args[1]
            if not conditional and len(args) > 1
            else None
        )
        flatten = arg.type == "dynamic"
        is_set = func.startswith("make_set")

        def collect_step(s: list[Any], row: Row) -> None:
            if pred is not None and pred(row) is not True:
                return
            v = f(row)
            if v is None:
                return
            values = v if flatten and isinstance(v, list) else (v,)
            out = s[0]
            for item in values:
                if len(out) >= limit:
                    return
                if is_set:
                    key = hashable(item)
                    if key not in out:
                        out[key] = item
                else:
                    out.append(item)

        def collect_finish(s: list[Any]) -> list[object]:
            return [list(s[0].values()) if is_set else list(s[0])]

        return Aggregate(
            [(column_name(arg), "dynamic")],
            (lambda: [{}]) if is_set else (lambda: [[]]),
            collect_step,
            collect_finish,
        )

    if func in ("arg_max", "arg_min"):
        key_arg = args[0]
        if key_arg.type == "dynamic":
            raise AggregateError(f"aggregate function '{func}' cannot be applied to a dynamic value")
        key_fn = key_arg.fn
        is_max = func == "arg_max"
        key_name = name or key_arg.name or f"{prefix}_"
        outputs = _outputs(args[1:], star_columns, exclude={key_name})
        getters = [g for _, _, g in outputs]

        def arg_step(s: list[Any], row: Row) -> None:
            v = key_fn(row)
            if v is None:
                if s[1] is None:
                    s[1] = row
                return
            best = s[0]
            if best is None or (v > best if is_max else v < best):
                s[0] = v
                s[1] = row

        def arg_finish(s: list[Any]) -> list[object]:
            row = s[1]
            return [s[0], *((g(row) if row is not None else None) for g in getters)]

        return Aggregate(
            [(key_name, key_arg.type), *((n, t) for n, t, _ in outputs)],
            lambda: [None, None],
            arg_step,
            arg_finish,
        )

    if func in ("count_distinct", "count_distinctif"):
        return build(
            "dcountif" if func.endswith("if") else "dcount", args, name or column_name(args[0]), star_columns
        )

    if func.startswith(("stdev", "variance")):
        return _spread(func, args, column_name(args[0]))

    if func in ("percentile", "percentiles"):
        return _percentiles(func, args, name, column_name)

    if func in ("make_bag", "make_bag_if"):
        arg = args[0]
        if arg.type != "dynamic":
            raise AggregateError(
                f"aggregate function '{func}' expects a dynamic property bag, not {arg.type}"
            )
        f = arg.fn
        pred = _predicate(args[1]) if func == "make_bag_if" else None
        limit = _limit(
            args[2]
            if func == "make_bag_if" and len(args) > 2
            else args[1]
            if func == "make_bag" and len(args) > 1
            else None
        )

        def bag_step(s: list[Any], row: Row) -> None:
            if pred is not None and pred(row) is not True:
                return
            v = f(row)
            if isinstance(v, dict):
                bag = s[0]
                for key, value in v.items():
                    if len(bag) >= limit:
                        return
                    bag.setdefault(key, value)

        return Aggregate([(column_name(arg), "dynamic")], lambda: [{}], bag_step, lambda s: [dict(s[0])])

    if func == "make_list_with_nulls":
        f = args[0].fn
        limit = _limit(args[1] if len(args) > 1 else None)

        def list_step(s: list[Any], row: Row) -> None:
            if len(s[0]) < limit:
                s[0].append(f(row))

        return Aggregate([(column_name(args[0]), "dynamic")], lambda: [[]], list_step, lambda s: [list(s[0])])

    # take_any / any / take_anyif
    if func == "take_anyif":
        pred = _predicate(args[1])
        outputs = _outputs(args[:1], star_columns, exclude=set(), prefix="")
    else:
        pred = None
        outputs = _outputs(args, star_columns, exclude=set(), prefix=prefix)
    if name is not None and len(outputs) == 1:
        outputs = [(name, outputs[0][1], outputs[0][2])]
    getters = [g for _, _, g in outputs]
    prefer_value = len(args) == 1 and not isinstance(args[0], _StarArg)

    def any_step(s: list[Any], row: Row) -> None:
        if pred is not None and pred(row) is not True:
            return
        if (
            s[0] is None
            or prefer_value
            and getters[0](s[0]) in (None, "")
            and getters[0](row) not in (None, "")
        ):
            s[0] = row

    def any_finish(s: list[Any]) -> list[object]:
        row = s[0]
        return [(g(row) if row is not None else None) for g in getters]

    return Aggregate([(n, t) for n, t, _ in outputs], lambda: [None], any_step, any_finish)


def _spread(func: str, args: Sequence[Arg], column: str) -> Aggregate:
    """stdev/variance (sample: n - 1) and stdevp/variancep (population), optionally with a predicate."""
    arg = args[0]
    if arg.type not in _NUMERIC:
        raise AggregateError(f"aggregate function '{func}' expects a numeric argument, not {arg.type}")
    f = arg.fn
    pred = _predicate(args[1]) if func.endswith("if") else None
    population = func.endswith("p")
    root = func.startswith("stdev")

    def step(s: list[Any], row: Row) -> None:
        if pred is not None and pred(row) is not True:
            return
        v = f(row)
        if v is not None:
            # Welford's running mean and sum of squared deviations
            s[0] += 1
            delta = v - s[1]
            s[1] += delta / s[0]
            s[2] += delta * (v - s[1])

    def finish(s: list[Any]) -> list[object]:
        count = s[0]
        if count == 0:
            return [None]
        divisor = count if population else count - 1
        variance = s[2] / divisor if divisor else 0.0
        return [math.sqrt(variance) if root else variance]

    return Aggregate([(column, "real")], lambda: [0, 0.0, 0.0], step, finish)


def _percentiles(
    func: str, args: Sequence[Arg], name: str | None, column_name: Callable[[Arg | None], str]
) -> Aggregate:
    """percentile(x, p) / percentiles(x, p1, p2, ...): nearest-rank values of the non-null x."""
    arg = args[0]
    if arg.type not in _NUMERIC and arg.type not in ("datetime", "timespan"):
        raise AggregateError(f"aggregate function '{func}' expects a numeric, datetime or timespan argument")
    ranks: list[float] = []
    for p in args[1:]:
        value = p.value
        if (
            not p.const
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 100
        ):
            raise AggregateError(f"aggregate function '{func}': a percentile is a constant between 0 and 100")
        ranks.append(float(value))
    f = arg.fn
    base = column_name(arg) if name is None else name
    columns = []
    for p in args[1:]:
        text = str(p.value).replace(".", "_")
        columns.append((name if name is not None and len(ranks) == 1 else f"{base}_{text}", arg.type))

    def step(s: list[Any], row: Row) -> None:
        v = f(row)
        if v is not None:
            s[0].append(v)

    def finish(s: list[Any]) -> list[object]:
        values = sorted(s[0])
        if not values:
            return [None for _ in ranks]
        return [values[max(math.ceil(rank / 100 * len(values)), 1) - 1] for rank in ranks]

    return Aggregate(columns, lambda: [[]], step, finish)


class _StarArg(Arg):
    """``*`` as an aggregation argument."""


def star_arg() -> Arg:
    return _StarArg("", lambda row: None, False, None, None)


def _outputs(
    args: Sequence[Arg],
    star_columns: Sequence[tuple[str, str, RowFn]],
    exclude: set[str],
    prefix: str = "",
) -> list[tuple[str, str, RowFn]]:
    outputs: list[tuple[str, str, RowFn]] = []
    for i, arg in enumerate(args):
        if isinstance(arg, _StarArg):
            outputs.extend(c for c in star_columns if c[0] not in exclude)
            continue
        base = arg.name or f"Column{i + 1}"
        outputs.append((f"{prefix}_{base}" if prefix else base, arg.type, arg.fn))
    return outputs
