"""Caption tables (the UI's Dataset tab and `audiolora data caption`): a folder's audio files as rows
of caption fields, read from sidecars and a captions CSV, edited, tagged, filled from the signal,
checked, and saved as the CSV the CLI reads (`generation.captions`, `read_caption_csv`)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from ..errors import AudioloraError, DataError
from .captions import (
    TagMode,
    apply_tag,
    audio_files,
    parse_caption,
    read_caption_csv,
    read_sidecar,
)
from .layout import AUDIO_SUFFIXES

FIELDS = ("caption", "genre", "bpm", "keyscale", "timesignature", "lyrics")
COLUMNS = ("file", *FIELDS)
CSV_NAME = "captions.csv"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_table(
    folder: str | os.PathLike, csv_path: str | os.PathLike | None = None
) -> list[list[str]]:
    """Rows `[file, caption, genre, bpm, keyscale, timesignature, lyrics]`, `file` relative to
    `folder`; values from the sidecar, overridden by the captions CSV (default folder/captions.csv)."""
    folder = Path(folder)
    files = audio_files(folder)
    csv_path = Path(csv_path) if csv_path else folder / CSV_NAME
    table = read_caption_csv(csv_path) if csv_path.is_file() else {}
    rows = []
    for path in files:
        meta = read_sidecar(path)
        values = meta.model_dump() if meta else {}
        row = table.get(str(path.resolve()))
        if row is not None:
            values.update(row.model_dump(exclude_none=True))
        rows.append([path.relative_to(folder).as_posix(), *(_cell(values.get(f)) for f in FIELDS)])
    return rows


def _values(row) -> dict[str, object]:
    """A table row as caption fields, empty cells left out and numbers parsed."""
    out: dict[str, object] = {}
    for name, cell in zip(FIELDS, list(row)[1:], strict=False):
        cell = "" if cell is None else str(cell).strip()
        if cell == "" or cell.lower() == "nan":
            continue
        if name == "bpm":
            try:
                out[name] = float(cell)
            except ValueError:
                raise DataError(f"{row[0]}: bpm {cell!r} is not a number") from None
        else:
            out[name] = cell
    return out


def save_table(rows, folder: str | os.PathLike, csv_path: str | os.PathLike | None = None) -> Path:
    """Validate every row and write the captions CSV atomically (`file` relative to the CSV)."""
    folder = Path(folder)
    csv_path = Path(csv_path) if csv_path else folder / CSV_NAME
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        name = str(row[0]).strip()
        audio = folder / name
        if not audio.is_file():
            raise DataError(f"{audio}: no such audio file; remove the row or restore the file")
        values = _values(row)
        parse_caption(values, f"{name}")  # one-line error naming the file and field
        rel = os.path.relpath(audio.resolve(), csv_path.resolve().parent)
        writer.writerow([Path(rel).as_posix(), *(_cell(values.get(f)) for f in FIELDS)])
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{csv_path.name}.", suffix=".tmp", dir=csv_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
        os.replace(tmp, csv_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    read_caption_csv(csv_path)  # what the CLI will read must parse
    return csv_path


def tag_rows(rows, tag: str, mode: TagMode) -> list[list[str]]:
    """Every row's caption with the activation tag prepended, appended or replacing it."""
    tag = (tag or "").strip()
    out = []
    for row in rows:
        row = list(row)
        caption = row[1]
        if tag and mode != "replace" and tag in [p.strip() for p in str(caption or "").split(",")]:
            out.append(row)  # already tagged: applying twice must not stack tags
            continue
        row[1] = apply_tag(str(caption or ""), tag, mode)
        out.append(row)
    return out


def fill_rows(rows, folder: str | os.PathLike, overwrite: bool = False) -> list[list[str]]:
    """BPM and key estimated from each file's signal (empty cells only, unless `overwrite`)."""
    from ..data.autometa import fill_metadata

    folder = Path(folder)
    out = []
    for row in rows:
        row = list(row)
        current = {"bpm": row[3], "keyscale": row[4]}
        filled = fill_metadata(current, folder / str(row[0]), overwrite=overwrite)
        row[3], row[4] = _cell(filled.get("bpm")), _cell(filled.get("keyscale"))
        out.append(row)
    return out


def check_lines(folder: str | os.PathLike, rows=None) -> list[str]:
    """One line per problem: `data check` on a stem dataset, then each row's caption fields."""
    from ..data.checks import check_dataset, guess_sources

    folder = Path(folder)
    lines: list[str] = []
    sources = None  # not a stem dataset (no manifest, no <track>/mixture.*): captions only
    if (
        (folder / "manifest.json").is_file()
        or any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.glob("*/mixture.*"))
        or any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.glob("*/*/mixture.*"))
    ):
        try:
            sources = guess_sources(folder)
        except AudioloraError as exc:
            lines.append(exc.one_line())
    if sources:
        try:
            report = check_dataset(folder, sources)
            lines += [f"error: {e}" for e in report.errors]
            lines += [f"warning: {w}" for w in report.warnings]
        except AudioloraError as exc:
            lines.append(exc.one_line())
    for row in rows or []:
        try:
            parse_caption(_values(row), str(row[0]))
        except AudioloraError as exc:
            lines.append(exc.one_line())
    return lines
