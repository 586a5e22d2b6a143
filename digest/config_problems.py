"""How config.yaml's problems are told: pydantic's errors as "key: expected … but received …", and the keys the
schema does not know (usually typos) by their full dotted name."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from digest.util import clip, shorten


def location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("from" if part == "from_" else str(part))
    return out or "(top level)"


def problems(error: ValidationError) -> list[str]:
    found = []
    for item in error.errors():
        where = location(item["loc"])
        kind = item["type"]
        if kind == "missing":
            found.append(f"{where}: expected a value but the key is missing")
        elif kind == "value_error" and not item["loc"]:  # a check across keys names its key itself
            found.append(item["msg"].removeprefix("Value error, "))
        elif kind == "value_error":
            found.append(f"{where}: {clip(item['msg'].removeprefix('Value error, '), 400)}")
        elif kind == "too_short":
            least = (item.get("ctx") or {}).get("min_length", 1)
            entries = "entry" if least == 1 else "entries"
            found.append(f"{where}: expected at least {least} {entries} but received {shorten(item.get('input'))}")
        else:
            found.append(f"{where}: {clip(item['msg'].lower())} but received {shorten(item.get('input'))}")
    return found


def unknown_keys(data: Any, model: type[BaseModel], where: str = "") -> list[tuple[str, str | None]]:
    """Keys the schema does not know, by their full dotted name (usually typos), each with the known key of that
    place it most resembles, if one does ('timezon' → 'timezone')."""
    if not isinstance(data, dict):
        return []
    unknown: list[tuple[str, str | None]] = []
    fields = model.model_fields
    by_name = {f.alias or name: (name, f) for name, f in fields.items()}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in by_name:
            close = difflib.get_close_matches(str(key), list(by_name), n=1, cutoff=0.75)
            unknown.append((dotted, close[0] if close else None))
            continue
        annotation = by_name[key][1].annotation
        for sub in submodels(annotation):
            if isinstance(value, list):
                for index, entry in enumerate(value):
                    unknown.extend(unknown_keys(entry, sub, f"{dotted}[{index}]"))
            else:
                unknown.extend(unknown_keys(value, sub, dotted))
    return unknown


def submodels(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found.extend(submodels(arg))
    return found
