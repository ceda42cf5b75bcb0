"""`query_shape`: a query's structure with every literal value replaced by its type.

Hunt mode builds queries from templates and escaped indicator values; comparing the shape of a
built query with the shape of the template filled with a harmless value proves the values
stayed values: a value that smuggles in an operator, a quote or a list item changes the shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql.compiler import Compiler
from enrich.sandbox.kql.parser import parse
from enrich.sandbox.kql.values import KqlError
from enrich.sandbox.schema import TABLES


def query_shape(text: str, schemas: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> str:
    """A canonical rendering of the parsed query: operators, columns, function names and literal
    types, with each literal's value replaced by a placeholder such as ``<string>``.

    The query is also compiled against ``schemas`` (default: the sandbox's tables), so names and
    types must resolve.  Raises :class:`KqlError` when the text does not parse or compile.
    """
    if not isinstance(text, str):
        raise KqlError("The query must be a string")
    try:
        query = parse(text)
        Compiler(text, {}, TABLES if schemas is None else schemas, 0, None, None).compile_query(query)
        return _render(query)
    except RecursionError:
        raise KqlError("Query is too complex (too many nested operators)") from None


def _json_shape(value: object) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_json_shape(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"<string>:{_json_shape(v)}" for v in value.values()) + "}"
    if value is None:
        return "<null>"
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, int):
        return "<long>"
    if isinstance(value, float):
        return "<real>"
    return "<string>"


def _render(node: object) -> str:
    if isinstance(node, n.Lit):
        if node.type == "dynamic":
            return f"dynamic({_json_shape(node.value)})"
        if node.type == "type":
            return f"typeof({node.value})"
        return f"<{node.type}>"
    if isinstance(node, n.ParsePart):
        if node.name is not None:
            return f"ParsePart(name={node.name}, type={node.type})"
        return "ParsePart(<string>)" if node.text is not None else "ParsePart(*)"
    if isinstance(node, list):
        return "[" + ", ".join(_render(item) for item in node) + "]"
    if isinstance(node, tuple):
        return "(" + ", ".join(_render(item) for item in node) + ")"
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = [
            f"{f.name}={_render(getattr(node, f.name))}" for f in dataclasses.fields(node) if f.name != "pos"
        ]
        return f"{type(node).__name__}({', '.join(fields)})"
    return repr(node)
