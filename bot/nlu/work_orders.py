"""Historical work orders (工单) as training data: a county's CSV export → (text, intent) examples.

Counties keep years of hotline and window records in spreadsheets. Exported to CSV they come in
GBK/GB18030 (Excel on a Chinese Windows) or UTF-8, often with a byte-order mark, comma- or
tab-separated. This module reads such a file, takes one column as the message and one as its
label, optionally maps the county's own labels to taxonomy codes, and counts what it skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.nlu.data import Example
from bot.nlu.exceptions import ImportDataError
from intents.taxonomy import Taxonomy

AUTO = "auto"
_DELIMITERS = (",", "\t", ";")


@dataclass
class ImportResult:
    """Examples read from a work-order file and what was left out, with counts.

    Attributes:
        examples: (text, intent) pairs, in file order, without repeats.
        encoding: the encoding the file was read with.
        rows: data rows in the file.
        skipped_empty: rows whose text or label was empty.
        duplicates: rows repeating an earlier (text, label) pair.
        unmapped: rows skipped because their label is not in the label map, by label.
        per_label: examples kept, by intent.
    """

    examples: list[Example] = field(default_factory=list)
    encoding: str = ""
    rows: int = 0
    skipped_empty: int = 0
    duplicates: int = 0
    unmapped: Counter[str] = field(default_factory=Counter)
    per_label: Counter[str] = field(default_factory=Counter)


def decode(data: bytes, encoding: str = AUTO) -> tuple[str, str]:
    """Decode a file's bytes; `auto` tries UTF-8 (with or without BOM), UTF-16 with BOM, GB18030.

    GB18030 is a superset of GBK and GB2312, so it reads every legacy Chinese Excel export.

    Returns:
        (text, encoding used).

    Raises:
        ImportDataError: the bytes are not text in the given (or any tried) encoding.
    """
    if encoding != AUTO:
        try:
            codecs.lookup(encoding)
            return data.decode(encoding), encoding
        except LookupError as exc:
            raise ImportDataError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise ImportDataError(f"file is not valid {encoding}: {exc.reason}") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "gb18030"]
    for candidate in candidates:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise ImportDataError(f"cannot tell the file's encoding (tried {', '.join(candidates)})")


def read_work_orders(
    path: Path,
    text_column: str,
    label_column: str,
    *,
    encoding: str = AUTO,
    label_map: dict[str, str] | None = None,
) -> ImportResult:
    """Read labelled messages from a CSV export of work orders.

    Args:
        path: the CSV file (comma, tab or semicolon separated, with a header row).
        text_column: header of the column holding the resident's message.
        label_column: header of the column holding the label.
        encoding: the file's encoding, or ``auto``.
        label_map: old label → intent code; rows with a label not in it are skipped and counted.

    Raises:
        ImportDataError: unreadable file, unknown encoding, no header, or a column not found.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportDataError(f"{path}: cannot read: {exc.strerror}") from exc
    text, used = decode(data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise ImportDataError(f"{path}: the file is empty or has no header row")
        text_index = _column(header, text_column, path)
        label_index = _column(header, label_column, path)
        result = ImportResult(encoding=used)
        seen: set[Example] = set()
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            result.rows += 1
            _add_row(result, seen, row, text_index, label_index, label_map)
    except csv.Error as exc:
        raise ImportDataError(f"{path}: not a readable CSV file: {exc}") from exc
    return result


def load_label_map(path: Path, taxonomy_: Taxonomy) -> dict[str, str]:
    """Read a label map: YAML ``old: code`` pairs, or a CSV of two columns (old, code) whose
    first row is a header.

    Raises:
        ImportDataError: the file is unreadable, not a mapping, or maps to unknown intent codes.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportDataError(f"{path}: cannot read label map: {exc.strerror}") from exc
    text, _ = decode(raw)
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))[1:]
        except csv.Error as exc:
            raise ImportDataError(f"{path}: label map is not a readable CSV file: {exc}") from exc
        mapping = {
            row[0].strip(): row[1].strip() for row in rows if len(row) >= 2 and row[0].strip()
        }
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ImportDataError(f"{path}: label map is not YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ImportDataError(f"{path}: label map must be a mapping of old label → intent code")
        mapping = {str(old).strip(): str(code).strip() for old, code in loaded.items()}
    codes = set(taxonomy_.codes())
    unknown = sorted({code for code in mapping.values() if code not in codes})
    if unknown:
        raise ImportDataError(f"{path}: not intent codes of the taxonomy: {', '.join(unknown)}")
    return mapping


def _add_row(
    result: ImportResult,
    seen: set[Example],
    row: list[str],
    text_index: int,
    label_index: int,
    label_map: dict[str, str] | None,
) -> None:
    """Count one data row into `result`: kept, empty, duplicate or unmapped."""
    message = " ".join(row[text_index].split()) if text_index < len(row) else ""
    label = row[label_index].strip() if label_index < len(row) else ""
    if not message or not label:
        result.skipped_empty += 1
        return
    if label_map is not None:
        if label not in label_map:
            result.unmapped[label] += 1
            return
        label = label_map[label]
    if (message, label) in seen:
        result.duplicates += 1
        return
    seen.add((message, label))
    result.examples.append((message, label))
    result.per_label[label] += 1


def _column(header: list[str], name: str, path: Path) -> int:
    """Index of the column called `name`; a clear error listing the columns otherwise."""
    if name in header:
        return header.index(name)
    raise ImportDataError(
        f"{path}: no column {name!r}; the columns are: {', '.join(repr(h) for h in header)}"
    )


def _delimiter(text: str) -> str:
    """The separator used in the header line: whichever of , tab ; occurs most."""
    first_line = text.split("\n", 1)[0]
    return max(_DELIMITERS, key=first_line.count)
