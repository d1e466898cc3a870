"""Free text as every database can store it.

PostgreSQL refuses NUL characters in text and UTF-8 cannot encode a lone surrogate; both arrive
in real traffic (broken phones, pasted documents, fuzzers) through every door — a resident's
message, an agent's note, an API client's description — and neither may cost anyone their text
or answer them with a 500.
"""

from __future__ import annotations


def storable(text: str) -> str:
    """`text` without NUL characters, unpaired surrogates replaced by "?"."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
