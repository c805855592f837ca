"""The second decoding tier: straight-line decoders, compiled once per message class, over
orjson's objects, for bodies the first tier (``_structs``) hands back.

The general decoder in ``_codec`` handles every form proto3 JSON allows, one generic
converter call per field. A real server writes one form only: proto field names, values of
the canonical JSON type, and (with EmitUnpopulated) every field. For that form this
module writes one Python function per message class, with each field's check inlined, and
builds the object without the dataclass ``__init__``.

The fast function is a strict shortcut: whenever an object is not in the simple form
(a camelCase key, a value of another JSON type, two members of a oneof, a nested object
that is not a JSON object, ...), it hands that object to the general decoder, which
gives the same result or the same error it always did. Correctness therefore rests on
the general decoder; the tests check that both give equal messages.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import betterproto2
import orjson

from ._decoders import INT_RANGES, SKIP, Conv, DecodeError, enum_names

__all__ = ["FieldInfo", "compile_decoder", "general_field", "plain_int64"]

_ids = itertools.count()


@dataclass(frozen=True)
class FieldInfo:
    attr: str  # the Python attribute
    key: str  # the proto field name, as servers write it
    proto_type: str  # betterproto2's proto type name; "map<key type,value type>" for maps
    repeated: bool
    py_type: Any  # the message or enum class, else None
    default: Any  # the attribute's value in ``cls()``
    conv: Conv  # the general decoder of a non-null JSON value


class _Fallback(Exception):
    """The object is not in the simple form: decode it the general way."""


def _fast_case(f: FieldInfo, ns: dict[str, Any], n: int) -> tuple[str, str] | None:
    """(condition on v, the decoded value) for the simple form of field ``f``, where ``v``
    stands for the JSON value; None when every value goes to the general decoder."""
    if f.proto_type == "map<string,string>":
        # Keys of a JSON object are strings already; the values must be too (null is refused).
        return "type(v) is dict and all(type(x) is str for x in v.values())", "v"
    if f.proto_type.startswith("map<") or f.repeated:
        if f.proto_type == "message" and f.repeated:
            ns[f"D{n}"] = _nested(f.py_type, ns, f"D{n}")
            # An empty list is kept as orjson made it: a fresh list, never shared.
            return "type(v) is list", f"[D{n}(x) for x in v] if v else v"
        return ("type(v) is list" if f.repeated else "type(v) is dict") + " and not v", "v"
    if f.proto_type == "string":
        return "type(v) is str", "v"
    if f.proto_type == "bool":
        return "v is True or v is False", "v"
    if f.proto_type == "double":
        return "type(v) is float", "v"
    if f.proto_type == "enum":
        ns[f"E{n}"] = enum_names(f.py_type)
        ns[f"DEF{n}"] = f.default
        return "type(v) is str", f"E{n}.get(v, DEF{n})"  # an unknown name reads as the default
    if f.proto_type == "message":
        ns[f"D{n}"] = _nested(f.py_type, ns, f"D{n}")
        return "type(v) is dict", f"D{n}(v)"
    if f.proto_type in INT_RANGES:
        lo, hi = INT_RANGES[f.proto_type]
        if hi < 2**53:
            return f"type(v) is int and {lo} <= v <= {hi}", "v"
        # The int64 family is written as strings; anything else goes to the general decoder.
        return f"type(v) is str and {plain_int64(f.proto_type)}", "int(v)"
    return None  # float, bytes: always the general decoder


def plain_int64(proto_type: str) -> str:
    """A condition on a str ``v``: an int64-family value in its plain form, in range.

    ASCII digits without a leading zero are in range when there are fewer of them than in
    the maximum, or as many and they sort no higher. Anything else ("007", "-5", "1e3",
    " 5", "5\\n", a digit outside ASCII) is left to the general decoder.
    """
    top = str(INT_RANGES[proto_type][1])
    return (
        "v.isascii() and v.isdigit() and (v[0] != '0' or v == '0')"
        f" and ((k := len(v)) < {len(top)} or k == {len(top)} and v <= {top!r})"
    )


def general_field(f: FieldInfo) -> Callable[[Any], Any]:
    """The general decoder of one field, null and an unknown enum name giving the default."""
    conv = f.conv
    if isinstance(f.default, (list, dict)):
        make_default: Callable[[], Any] = type(f.default)
    else:
        default = f.default
        make_default = lambda: default  # noqa: E731

    def general(v: Any) -> Any:
        if v is None:
            return make_default()
        x = conv(v)
        return make_default() if x is SKIP else x

    return general


def _field_source(f: FieldInfo, ns: dict[str, Any], n: int) -> str:
    ns[f"G{n}"] = general_field(f)
    case = _fast_case(f, ns, n)
    if case is None:
        return f"    m.{f.attr} = G{n}(v{n})"
    cond, value = (re.sub(r"\bv\b", f"v{n}", part) for part in case)
    if f.proto_type == "message" and not f.repeated:
        return f"    m.{f.attr} = ({value}) if {cond} else None if v{n} is None else G{n}(v{n})"
    return f"    m.{f.attr} = ({value}) if {cond} else G{n}(v{n})"


def _nested(cls: type[betterproto2.Message], ns: dict[str, Any], name: str) -> Callable[[Any], Any]:
    """Stands in for a nested message's strict decoder until first use, then replaces itself
    in the namespace, so the compiled code calls the real one directly from then on."""

    def first_use(v: Any) -> Any:
        from ._codec import plan_of

        ns[name] = strict = plan_of(cls).strict_fast
        return strict(v)

    return first_use


def compile_decoder(
    cls: type[betterproto2.Message],
    fields: list[FieldInfo],
    oneofs: list[tuple[str, ...]],
    alternate_keys: frozenset[str],
    fallback: Callable[[Any], Any],
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(decoder, strict decoder) for ``cls``.

    The decoder hands anything outside the simple form to ``fallback``. The strict one
    raises instead, for use inside a parent's fast decoder, which then falls back as a whole
    (so an error message names the full path, as the general decoder writes it).
    """
    # The keys as orjson hands them out: it caches key strings, so looking them up in a
    # parsed object mostly compares by identity, not character by character.
    keys = list(orjson.loads(orjson.dumps(dict.fromkeys(f.key for f in fields))))
    ns: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "Fallback": _Fallback,
        "ALL": operator.itemgetter(*keys) if keys else None,
        "KNOWN": frozenset(keys),
        "ALTERNATE": alternate_keys,
    }
    names = ", ".join(f"v{n}" for n in range(len(fields)))
    body = [
        "def strict(obj):",
        "    if type(obj) is not dict:",
        "        raise Fallback",
        # Exactly the known keys, as EmitUnpopulated writes them: one lookup of all of them.
        f"    exact = len(obj) == {len(fields)}",
    ]
    if fields:
        body += [
            "    if exact:",
            "        try:",
            f"            {names} = ALL(obj)",  # one key: the value itself; more: a tuple
            "        except KeyError:",
            "            exact = False",
        ]
    body += [
        "    if not exact:",
        "        if not obj.keys() <= KNOWN and not ALTERNATE.isdisjoint(obj):",
        "            raise Fallback  # camelCase keys: the general decoder checks for duplicates",
        "        get = obj.get",
        *(f"        v{n} = get({f.key!r})" for n, f in enumerate(fields)),
        "    m = new(cls)",
    ]
    for n, f in enumerate(fields):
        body.append(_field_source(f, ns, n))
    for group in oneofs:
        present = " + ".join(f"(m.{attr} is not None)" for attr in group)
        body += [f"    if {present} > 1:", "        raise Fallback"]
    body += ["    m._unknown_fields = b''", "    return m"]
    source = "\n".join(body)
    code = compile(source, f"<dispatch_client fast decoder {cls.__name__} #{next(_ids)}>", "exec")
    exec(code, ns)
    strict: Callable[[Any], Any] = ns["strict"]

    def decoder(obj: Any) -> Any:
        try:
            return strict(obj)
        except (_Fallback, DecodeError):
            return fallback(obj)

    return decoder, strict
