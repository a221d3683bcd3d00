"""Dataset checks run by `audiolora data check` and before training. Read-only: never modifies files.

Every problem is one line: `<track>: <file>: <what is wrong>; <what to do>`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.table import Table

from ..audio import AudioInfo, audio_info
from ..errors import DataError
from .layout import AUDIO_SUFFIXES, MIXTURE, find_stem_file, list_tracks

SPLITS = ("train", "valid", "test")
DEFAULT_TOLERANCE_S = 0.01
MIXTURE_TOLERANCE_DB = -40.0  # residual of mixture - sum(stems), relative to the mixture
SILENCE_DBFS = -80.0
CLIP_LEVEL = 0.9999
CLIP_RUN = 3  # this many consecutive samples at full scale count as clipping, one peak does not


@dataclass
class TrackRow:
    """One line of the check table."""

    track: str
    samplerate: int | None = None
    channels: int | None = None
    seconds: float | None = None
    peak_dbfs: float | None = None
    residual_db: float | None = None
    errors: int = 0
    warnings: int = 0


@dataclass
class CheckReport:
    """What `check_dataset` found: one-line `errors` and `warnings`, and a row per track."""

    root: Path
    sources: list[str]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: list[TrackRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def table(self) -> Table:
        table = Table(
            title=f"{self.root}: {len(self.rows)} tracks, stems {', '.join(self.sources)}"
        )
        for col, justify in [
            ("track", "left"),
            ("rate", "right"),
            ("ch", "right"),
            ("seconds", "right"),
            ("peak dBFS", "right"),
            ("mix-sum dB", "right"),
            ("status", "left"),
        ]:
            table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for r in self.rows:
            status = (
                f"[red]{r.errors} error(s)[/red]"
                if r.errors
                else (
                    f"[yellow]{r.warnings} warning(s)[/yellow]"
                    if r.warnings
                    else "[green]ok[/green]"
                )
            )
            table.add_row(
                r.track,
                _fmt(r.samplerate),
                _fmt(r.channels),
                _fmt(r.seconds, "{:.2f}"),
                _fmt(r.peak_dbfs, "{:.1f}"),
                _fmt(r.residual_db, "{:.1f}") if r.residual_db is not None else "-",
                status,
            )
        return table

    def summary(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{verdict}: {len(self.rows)} tracks checked in {self.root}, "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )

    def raise_if_errors(self) -> None:
        """Print each error on its own line (stderr) and raise one DataError summarising them."""
        if self.ok:
            return
        from ..console import err_console

        for line in self.errors:
            err_console.print(f"data error: {line}", markup=False, soft_wrap=True)
        raise DataError(
            f"{self.root}: {len(self.errors)} problem(s) in the dataset (listed above); fix them "
            f"and rerun `audiolora data check {self.root}`"
        )


def _fmt(value, pattern: str = "{}") -> str:
    return "-" if value is None else pattern.format(value)


def dataset_tracks(root: str | os.PathLike, sources: list[str]) -> list[tuple[str, Path]]:
    """(label, folder) of every track: `split/track` under a dataset root, `track` in a split folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder; render one with `audiolora data render`")
    splits = [root / s for s in SPLITS if (root / s).is_dir()]
    if splits:
        return [(f"{s.name}/{t.name}", t) for s in splits for t in list_tracks(s, sources)]
    return [(t.name, t) for t in list_tracks(root, sources)]


def guess_sources(root: str | os.PathLike) -> list[str]:
    """The stems of a dataset: from a manifest.json (here or one folder up), else the file names found."""
    root = Path(root)
    for manifest in (root / "manifest.json", root.parent / "manifest.json"):
        if manifest.is_file():
            try:
                stems = json.loads(manifest.read_text()).get("stems")
            except (json.JSONDecodeError, OSError, AttributeError):
                stems = None
            if stems:
                return [str(s) for s in stems]
    names: set[str] = set()
    folders = [root / s for s in SPLITS if (root / s).is_dir()] or [root]
    for folder in folders:
        if not folder.is_dir():
            continue
        for track in folder.iterdir():
            if track.is_dir():
                names |= {
                    f.stem
                    for f in track.iterdir()
                    if f.suffix.lower() in AUDIO_SUFFIXES and f.stem != MIXTURE
                }
    if not names:
        raise DataError(
            f"{root}: no stem files found; expected <root>/[train/]<track>/<source>.wav"
        )
    return sorted(names)


def check_dataset(
    root: str | os.PathLike,
    sources: list[str] | tuple[str, ...],
    *,
    samplerate: int | None = None,
    allow_resample: bool = False,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    mixture_tolerance_db: float = MIXTURE_TOLERANCE_DB,
) -> CheckReport:
    """Check every track of a stem-folder dataset; see the module docstring for the message form.

    Errors: missing/unreadable/empty stems, wrong or mixed sample rates (unless `allow_resample`),
    mixed channel counts, lengths differing by more than `tolerance_s`, NaN/inf, clipping, and a
    mixture that is not the sum of the stems (residual above `mixture_tolerance_db`).
    Warnings: silent stems.
    """
    sources = list(sources)
    if not sources:
        raise DataError("no sources given; pass --sources a,b,c")
    report = CheckReport(Path(root), sources)
    tracks = dataset_tracks(root, sources)
    if not tracks:
        report.errors.append(
            f"{root}: no track folders with {', '.join(sources)} stems; expected "
            "<root>/[train/]<track>/<source>.wav"
        )
        return report
    # Header pass: the dataset's expected rate and channel count are the most common ones.
    headers: dict[Path, AudioInfo | str] = {}
    for _, folder in tracks:
        for name in [*sources, MIXTURE]:
            path = find_stem_file(folder, name)
            if path is not None:
                try:
                    headers[path] = audio_info(path)
                except DataError as exc:
                    headers[path] = str(exc).split(": ", 1)[-1]
    infos = [h for h in headers.values() if isinstance(h, AudioInfo)]
    expected_sr = samplerate or (
        Counter(i.samplerate for i in infos).most_common(1)[0][0] if infos else None
    )
    expected_ch = Counter(i.channels for i in infos).most_common(1)[0][0] if infos else None
    for label, folder in tracks:
        row = TrackRow(label, expected_sr, expected_ch)
        errors, warnings = _check_track(
            label,
            folder,
            sources,
            headers,
            expected_sr,
            expected_ch,
            allow_resample,
            tolerance_s,
            mixture_tolerance_db,
            row,
        )
        row.errors, row.warnings = len(errors), len(warnings)
        report.errors += errors
        report.warnings += warnings
        report.rows.append(row)
    return report


def _check_track(
    label: str,
    folder: Path,
    sources: list[str],
    headers: dict[Path, AudioInfo | str],
    expected_sr: int | None,
    expected_ch: int | None,
    allow_resample: bool,
    tolerance_s: float,
    mixture_tolerance_db: float,
    row: TrackRow,
) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    files: dict[str, Path] = {}
    for source in sources:
        path = find_stem_file(folder, source)
        if path is None:
            errors.append(f"{label}: {source}.wav: missing stem; add it or remove the track folder")
        else:
            files[source] = path
    mixture = find_stem_file(folder, MIXTURE)
    if mixture is not None:
        files[MIXTURE] = mixture

    good: dict[str, tuple[AudioInfo, np.ndarray]] = {}
    for name, path in files.items():
        header = headers.get(path)
        if not isinstance(header, AudioInfo):
            errors.append(f"{label}: {path.name}: {header}")
            continue
        if header.frames == 0:
            errors.append(
                f"{label}: {path.name}: no samples; re-export the stem or remove the track"
            )
            continue
        if expected_sr and header.samplerate != expected_sr and not allow_resample:
            errors.append(
                f"{label}: {path.name}: {header.samplerate} Hz, expected {expected_sr} Hz; resample "
                "it or pass --allow-resample"
            )
            continue
        if expected_ch and header.channels != expected_ch:
            errors.append(
                f"{label}: {path.name}: {header.channels} channel(s) in a {expected_ch}-channel "
                f"set; re-export it with {expected_ch} channels"
            )
            continue
        try:
            audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:
            errors.append(f"{label}: {path.name}: unreadable audio ({exc}); re-export it")
            continue
        audio = audio.T
        if not np.isfinite(audio).all():
            bad = int((~np.isfinite(audio)).sum())
            errors.append(f"{label}: {path.name}: {bad} NaN/inf samples; re-render or re-export it")
            continue
        if _clipped(audio):
            errors.append(
                f"{label}: {path.name}: clipped (runs of {CLIP_RUN}+ samples at full scale); "
                "lower the gain and re-export it"
            )
        peak = float(np.abs(audio).max())
        if name != MIXTURE and peak < 10 ** (SILENCE_DBFS / 20):
            warnings.append(
                f"{label}: {path.name}: silent stem (peak below {SILENCE_DBFS:.0f} dBFS)"
            )
        good[name] = (header, audio)

    # Lengths, compared in seconds so that allowed resampling does not count as misalignment.
    if good:
        secs = {name: info.frames / info.samplerate for name, (info, _) in good.items()}
        # The reference is the length most files share (the median), so the odd file is named.
        reference = float(np.median(list(secs.values())))
        row.seconds = reference
        for name, s in secs.items():
            if abs(reference - s) > tolerance_s:
                errors.append(
                    f"{label}: {Path(good[name][0].path).name}: {s:.3f} s, other stems "
                    f"{reference:.3f} s (more than {tolerance_s:g} s apart); trim or pad the stems "
                    "to one length, aligned at the start"
                )
    if MIXTURE in good:
        row.peak_dbfs = _db(float(np.abs(good[MIXTURE][1]).max()))
    stems = [good[s] for s in sources if s in good]
    if MIXTURE in good and len(stems) == len(sources):
        # The mixture is the sum of every stem in the folder, also those not asked for.
        extras = _extra_stems(folder, sources)
        if extras is None:
            warnings.append(
                f"{label}: mixture.wav: not compared with the stems (another stem file in the "
                "folder is unreadable); run the check with all stems in --sources"
            )
            return errors, warnings
        stems += extras
        rates = {info.samplerate for info, _ in [*stems, good[MIXTURE]]}
        shapes = {a.shape[0] for _, a in [*stems, good[MIXTURE]]}
        if len(rates) == 1 and len(shapes) == 1:
            mix = good[MIXTURE][1].astype(np.float64)
            n = min([mix.shape[1], *(a.shape[1] for _, a in stems)])
            total = np.zeros((mix.shape[0], n))
            for _, a in stems:
                total += a[:, :n]
            residual = _db_power(
                float(((mix[:, :n] - total) ** 2).sum()), float((mix[:, :n] ** 2).sum())
            )
            row.residual_db = residual
            if residual > mixture_tolerance_db:
                errors.append(
                    f"{label}: {Path(good[MIXTURE][0].path).name}: mixture differs from the "
                    f"sum of the stems by {residual:.1f} dB (limit {mixture_tolerance_db:.0f} dB); "
                    "re-export the stems from the same mix or delete mixture.wav to use their sum"
                )
    elif MIXTURE not in files and stems:
        row.peak_dbfs = _db(
            float(np.abs(sum(a for _, a in stems if a.shape == stems[0][1].shape)).max())
        )
    return errors, warnings


def _extra_stems(folder: Path, sources: list[str]) -> list[tuple[AudioInfo, np.ndarray]] | None:
    """Stem files in `folder` besides `sources` and the mixture; None if one cannot be read."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.stem not in (*sources, MIXTURE):
            try:
                info = audio_info(path)
                audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
            except Exception:
                return None
            out.append((info, audio.T))
    return out


def _clipped(audio: np.ndarray) -> bool:
    hot = np.abs(audio) >= CLIP_LEVEL
    if hot.sum() < CLIP_RUN:
        return False
    for ch in hot:  # longest run of consecutive full-scale samples per channel
        idx = np.flatnonzero(np.diff(np.concatenate([[0], ch.astype(np.int8), [0]])))
        if idx.size and (idx[1::2] - idx[::2]).max() >= CLIP_RUN:
            return True
    return False


def _db(amplitude: float) -> float:
    return 20 * np.log10(max(amplitude, 1e-12))


def _db_power(power: float, reference: float) -> float:
    if reference <= 0:
        return 0.0 if power > 0 else -200.0
    return float(10 * np.log10(max(power, 1e-30) / reference))
