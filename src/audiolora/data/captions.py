"""Caption metadata for text-conditioned generation: `<audio>.json` sidecars and a captions CSV.

Fields (ACE-Step style): caption, bpm, keyscale, timesignature, genre, lyrics, language,
is_instrumental, duration, custom_tag. An activation tag (the trigger word a LoRA learns) can be
prepended, appended or can replace the caption. Missing `duration` is read from the file header and
missing `bpm` estimated with librosa.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..audio import audio_info, read_audio
from ..errors import DataError
from .layout import AUDIO_SUFFIXES

TagMode = Literal["prepend", "append", "replace"]
KEY_RE = re.compile(r"^[A-G](#|b)?\s+(major|minor)$", re.IGNORECASE)
TIME_RE = re.compile(r"^\d{1,2}(/\d{1,2})?$")


class Caption(BaseModel):
    """One audio file's caption metadata; every field optional except what a run requires."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    caption: str | None = None
    bpm: float | None = None
    keyscale: str | None = None
    timesignature: str | None = None
    genre: str | None = None
    lyrics: str | None = None
    language: str | None = None
    is_instrumental: bool | None = None
    duration: float | None = None
    custom_tag: str | None = None

    @field_validator("bpm")
    @classmethod
    def _bpm(cls, v):
        if v is not None and not (20 <= v <= 400):
            raise ValueError("must be between 20 and 400 beats per minute")
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v):
        if v is not None and v <= 0:
            raise ValueError("must be a positive number of seconds")
        return v

    @field_validator("keyscale")
    @classmethod
    def _key(cls, v):
        if v and not KEY_RE.match(v):
            raise ValueError("must look like 'C major' or 'F# minor'")
        return v

    @field_validator("timesignature", mode="before")
    @classmethod
    def _time(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if v is not None and not TIME_RE.match(str(v).strip()):
            raise ValueError("must look like '4/4' or '4'")
        return v


FIELDS = tuple(Caption.model_fields)


@dataclass
class CaptionedAudio:
    """An audio file and its caption metadata (after tagging and filling in bpm/duration)."""

    path: Path
    meta: Caption


def parse_caption(data: dict, source: str) -> Caption:
    """Validate a dict of caption fields; DataError naming `source` and the bad field."""
    if not isinstance(data, dict):
        raise DataError(
            f"{source}: expected a JSON object with caption fields, got {type(data).__name__}"
        )
    for key in data:
        if key not in FIELDS:
            near = difflib.get_close_matches(key, FIELDS, n=1)
            hint = (
                f" (did you mean {near[0]!r}?)" if near else f"; known fields: {', '.join(FIELDS)}"
            )
            raise DataError(f"{source}: unknown field {key!r}{hint}")
    try:
        return Caption.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        value = data.get(field, "")
        raise DataError(f"{source}: field {field!r} = {value!r}: {err['msg']}") from None


def sidecar_path(audio: str | os.PathLike) -> Path:
    return Path(audio).with_suffix(".json")


def read_sidecar(audio: str | os.PathLike) -> Caption | None:
    """The `<audio>.json` sidecar next to an audio file, or None when there is none."""
    path = sidecar_path(audio)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: invalid JSON (line {exc.lineno}: {exc.msg}); fix the sidecar"
        ) from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; save the sidecar as UTF-8") from None
    return parse_caption(data, str(path))


_BOOL = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


FILE_COLUMNS = ("filename", "file")  # the audio file's column, relative to the captions file


def _read_caption_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict):  # {"a.wav": {...}, ...}
        data = [{"filename": k, **(v or {})} for k, v in data.items()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: expected a list of objects with a 'filename' and caption fields")
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in data]


def read_caption_csv(path: str | os.PathLike) -> dict[str, Caption]:
    """A captions table, CSV or JSON: a `filename` (or `file`) column, relative to the table's folder,
    plus any caption fields (`caption, genre, bpm, keyscale, timesignature, lyrics, language`, ...).

    Returns `{resolved audio path: Caption}` in file order; empty cells are missing values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: captions file not found")
    if path.suffix.lower() == ".json":
        rows = _read_caption_json(path)
        columns = sorted({k for r in rows for k in r})
        reader = iter(rows)
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
        reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
    file_column = next((c for c in FILE_COLUMNS if c in columns), None)
    if file_column is None:
        raise DataError(
            f"{path}: no 'filename' column; the header must name the audio file column 'filename'"
        )
    out: dict[str, Caption] = {}
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise DataError(
                f"{path} line {line}: more cells than header columns; quote cells with commas"
            )
        name = (row.pop(file_column) or "").strip()
        for other in FILE_COLUMNS:
            row.pop(other, None)
        if not name:
            raise DataError(f"{path} line {line}: empty '{file_column}' cell")
        values: dict[str, object] = {}
        for key, cell in row.items():
            cell = (cell or "").strip()
            if cell == "":
                continue
            if key == "is_instrumental":
                if cell.lower() not in _BOOL:
                    raise DataError(
                        f"{path} line {line}: is_instrumental {cell!r} must be true or false"
                    )
                values[key] = _BOOL[cell.lower()]
            elif key in ("bpm", "duration"):
                try:
                    values[key] = float(cell)
                except ValueError:
                    raise DataError(f"{path} line {line}: {key} {cell!r} is not a number") from None
            else:
                values[key] = cell
        out[str((path.parent / name).resolve())] = parse_caption(values, f"{path} line {line}")
    return out


def apply_tag(caption: str | None, tag: str | None, mode: TagMode = "prepend") -> str:
    """Add the activation tag to a caption: `tag, caption`, `caption, tag`, or just `tag`."""
    caption = (caption or "").strip()
    if not tag:
        return caption
    if mode == "replace" or not caption:
        return tag
    if mode == "prepend":
        return f"{tag}, {caption}"
    if mode == "append":
        return f"{caption}, {tag}"
    raise DataError(f"tag mode {mode!r} unknown; use prepend, append or replace")


SECTION_RE = re.compile(r"^\[([a-z][a-z0-9 _-]*)\]$", re.IGNORECASE)


def normalize_lyrics(lyrics: str | None, source: object = "") -> str:
    """Lyrics with section tags on their own lines (`[verse]`, `[chorus]`); "" = instrumental.

    A line that opens with `[` but is not a well-formed tag is an error naming the file: such a line
    would otherwise be sung as text.
    """
    text = (lyrics or "").replace("\\n", "\n").strip()
    if text.lower() in ("", "[instrumental]", "[inst]"):
        return ""
    lines = [line.strip() for line in text.splitlines()]
    for line in lines:
        if line.startswith("[") and not SECTION_RE.match(line):
            raise DataError(
                f"{source}: lyrics line {line!r} is not a section tag; write tags alone on a line, "
                "like [verse] or [chorus]"
            )
    return "\n".join(lines)


def estimate_bpm(path: str | os.PathLike) -> float:
    """Tempo of an audio file from librosa's onset-strength tempogram (mono, 22.05 kHz, hop 256)."""
    try:
        import librosa
    except ImportError:
        raise DataError(
            f"{path}: no bpm given and librosa is not installed to estimate it; "
            "pip install librosa or add bpm to the caption"
        ) from None
    audio, sr = read_audio(path, samplerate=22050, channels=1)
    onset = librosa.onset.onset_strength(y=audio[0], sr=sr, hop_length=256)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=256)
    return round(float(tempo[0]), 2)


def audio_files(folder: str | os.PathLike) -> list[Path]:
    """Every audio file under `folder`, sorted (the files `load_captions` captions)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of audio files")
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
    )
    if not files:
        raise DataError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def load_captions(
    folder: str | os.PathLike,
    *,
    csv_path: str | os.PathLike | None = None,
    tag: str | None = None,
    tag_mode: TagMode = "prepend",
    fill_missing: bool = True,
    require_caption: bool = True,
) -> list[CaptionedAudio]:
    """Every audio file under `folder` with its caption (sidecar, then CSV row overriding it).

    With `fill_missing`, duration comes from the header and bpm from librosa when absent.
    """
    folder = Path(folder)
    files = audio_files(folder)
    table = read_caption_csv(csv_path) if csv_path else {}
    if table:  # a captions table names the files to use (e.g. mixtures, not their stems)
        root = folder.resolve()
        files = [Path(p) for p in table if Path(p).is_relative_to(root)]
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise DataError(
                f"{csv_path}: {missing[0]} has no audio file; fix its 'filename' cell or remove the row"
            )
    items = []
    for path in files:
        meta = read_sidecar(path) or Caption()
        row = table.get(str(path.resolve()))
        if row is not None:
            meta = meta.model_copy(update=row.model_dump(exclude_none=True))
        if require_caption and not (meta.caption or tag):
            raise DataError(
                f'{path}: no caption; add {sidecar_path(path).name} with a "caption" field, a CSV row, '
                "or an activation tag"
            )
        update: dict[str, object] = {"caption": apply_tag(meta.caption, tag, tag_mode)}
        update["lyrics"] = normalize_lyrics(meta.lyrics, path)
        if meta.is_instrumental is None:
            update["is_instrumental"] = not update["lyrics"]
        if fill_missing and meta.duration is None:
            update["duration"] = round(audio_info(path).duration, 3)
        if fill_missing and meta.bpm is None:
            update["bpm"] = estimate_bpm(path)
        items.append(CaptionedAudio(path, meta.model_copy(update=update)))
    return items
