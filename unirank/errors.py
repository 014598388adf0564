"""User-facing errors: one line that names the field, file or value and what was expected."""
from __future__ import annotations

from pydantic import ValidationError


class UnirankError(Exception):
    """An error caused by the user's input (config, data, CLI args, arch.json).

    The CLI prints ``str(err)`` as one line and exits non-zero, without a traceback.
    """


def describe_validation_error(err: ValidationError, source: str) -> str:
    """Turn pydantic's report into one line: ``source: field.path: problem (got value)``."""
    first = err.errors()[0]
    loc = ".".join(_part(part) for part in first["loc"] if not str(part).startswith("function-"))
    given = first.get("input")
    message = " ".join(first["msg"].split())
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    text = f"{source}: {loc or '<top level>'}: {message}"
    if first["type"] not in ("missing",) and not isinstance(given, dict):
        shown = repr(given)
        text += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    if len(err.errors()) > 1:
        text += f" [and {len(err.errors()) - 1} more problem(s)]"
    return text


def _part(part: object) -> str:
    """A location step as text; odd keys (empty, spaces, control characters, dots) quoted."""
    text = str(part)
    return text if text and all(c.isalnum() or c in "_-" for c in text) else repr(text)
