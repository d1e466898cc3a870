"""JSON request bodies of the machine interfaces (REST API, Open311, web chat), read safely.

`json.loads` raises `RecursionError`, not `ValueError`, for a body nested deeper than the
interpreter's recursion limit (`[` × 100 000 fits in 200 KB, far below the 2 MiB body limit);
left alone that is a 500. Every JSON body of these interfaces is read here, so such a body is
bad input like any other.
"""

from __future__ import annotations

import json
from typing import Any


def parse_json(data: bytes) -> Any:
    """The JSON value of a body (any type: the caller checks the shape it wants).

    Raises:
        UnicodeDecodeError: the body is not UTF-8 (a `ValueError`, so catch this one first).
        ValueError: the body is not JSON, or nested too deeply to read.
    """
    text = data.decode("utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
