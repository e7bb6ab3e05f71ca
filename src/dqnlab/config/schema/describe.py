"""Schema types and keys in words, for one-line error messages."""

from dataclasses import fields, is_dataclass
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

WORDS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}
PLURALS: dict[Any, str] = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def expected(hint: Any) -> str:
    """`int | None` -> "an integer or null"; `list[int]` -> "a list of integers"."""
    if get_origin(hint) in (Union, UnionType):
        words = [expected(arg) for arg in get_args(hint) if arg is not NoneType]
        return " or ".join(words + (["null"] if NoneType in get_args(hint) else []))
    if get_origin(hint) is list and get_args(hint)[0] in PLURALS:
        return f"a list of {PLURALS[get_args(hint)[0]]}"
    return WORDS.get(get_origin(hint) or hint, getattr(hint, "__name__", str(hint)))


def field_type(object_type: Any, key: Any, ref_type: Any) -> Any:
    """The declared type of `key` in a schema, or of a list's items; None when unknown."""
    if is_dataclass(object_type) and isinstance(key, str):
        return next((f.type for f in fields(object_type) if f.name == key), None)
    if isinstance(key, int) and get_origin(ref_type) is list:
        return get_args(ref_type)[0]
    return None


def schema_keys(object_type: Any) -> list[str] | None:
    """The keys a schema declares; None for a node without a schema."""
    return sorted(f.name for f in fields(object_type)) if is_dataclass(object_type) else None
