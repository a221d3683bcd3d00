"""Style accuracy (issue 15): a small classifier trained on renders to tell one recipe's style from
others, then applied to generated clips.

Multinomial logistic regression (binary for two labels) on standardised clip features: the 78 AFD
features (`generation.afd_features`) and, with `embedding=True`, the 320-value Basic Pitch
embedding. L2-regularised, fitted full-batch with torch's L-BFGS in float64 (deterministic).
Saved as safetensors + JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .generation import afd_matrix

Transform = Callable[[np.ndarray, int], np.ndarray]  # (clip [channels, n], samplerate) -> clip


def clip_features(
    clips: Sequence[np.ndarray], samplerate: int, embedding: bool = True
) -> np.ndarray:
    """The classifier's input [n, 78] or [n, 398] (AFD features, then the Basic Pitch embedding)."""
    feats = afd_matrix(clips, samplerate)
    if embedding:
        from .embeddings import basic_pitch_embeddings

        feats = np.concatenate([feats, basic_pitch_embeddings(clips, samplerate)], axis=1)
    return feats


class StyleClassifier:
    """Logistic regression from clip features to style labels."""

    def __init__(self, labels: Sequence[str], embedding: bool = True, l2: float = 1e-2):
        self.labels = list(labels)
        self.embedding = embedding
        self.l2 = float(l2)
        self.mean = self.std = self.weight = self.bias = None

    def fit(self, features: np.ndarray, labels: Sequence[str], steps: int = 200) -> StyleClassifier:
        """Fit on features [n, D] with one label per row (each in `self.labels`)."""
        x = np.asarray(features, np.float64)
        unknown = sorted(set(labels) - set(self.labels))
        if unknown or len(labels) != len(x):
            raise DataError(
                f"style classifier: {len(x)} rows, {len(labels)} labels"
                + (f", unknown label {unknown[0]!r}" if unknown else "")
            )
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-8
        xt = torch.from_numpy((x - self.mean) / self.std)
        y = torch.tensor([self.labels.index(label) for label in labels])
        w = torch.zeros(len(self.labels), x.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(len(self.labels), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w.T + b, y) + self.l2 * w.square().sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.weight, self.bias = w.detach().numpy(), b.detach().numpy()
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if self.weight is None:
            raise DataError("style classifier: fit or load it before predicting")
        z = ((np.asarray(features, np.float64) - self.mean) / self.std) @ self.weight.T + self.bias
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.array(self.labels)[self.predict_proba(features).argmax(axis=1)]

    def accuracy(self, features: np.ndarray, labels: Sequence[str]) -> float:
        return float(np.mean(self.predict(features) == np.asarray(labels)))

    def predict_clips(self, clips: Sequence[np.ndarray], samplerate: int) -> np.ndarray:
        return self.predict(clip_features(clips, samplerate, self.embedding))

    def save(self, folder: str | os.PathLike) -> Path:
        from safetensors.numpy import save_file

        from ..data.files import write_json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean, "std": self.std, "weight": self.weight, "bias": self.bias}
        tmp = folder / ".style.safetensors.tmp"
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp))
        os.replace(tmp, folder / "style.safetensors")
        meta = {"labels": self.labels, "embedding": self.embedding, "l2": self.l2}
        write_json(folder / "style.json", meta)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> StyleClassifier:
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            meta = json.loads((folder / "style.json").read_text())
            tensors = load_file(str(folder / "style.safetensors"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{folder}: not a saved style classifier ({exc})") from None
        out = cls(meta["labels"], meta["embedding"], meta["l2"])
        out.mean, out.std = tensors["mean"], tensors["std"]
        out.weight, out.bias = tensors["weight"], tensors["bias"]
        return out


def render_clips(
    root: str | os.PathLike,
    splits: Sequence[str] = ("train",),
    seconds: float | None = None,
    transform: Transform | None = None,
) -> tuple[list[np.ndarray], int]:
    """The mixtures of a render (`audiolora data render`) in `splits`, cut into `seconds`-long
    pieces when given (a shorter rest is dropped), each through `transform(clip, samplerate)` when
    given (e.g. a codec round trip); returns (clips, sample rate)."""
    from ..audio import read_audio
    from ..data.render.manifest import read_manifest

    root = Path(root)
    entries = read_manifest(root)["tracks"]
    clips, sr = [], 0
    for entry in entries:
        if entry["split"] not in splits:
            continue
        audio, sr = read_audio(root / entry["split"] / entry["track"] / "mixture.wav")
        if not seconds:
            clips.append(audio)
            continue
        n = int(round(seconds * sr))
        clips += [audio[:, s : s + n] for s in range(0, audio.shape[1] - n + 1, n)]
    if transform is not None:
        clips = [transform(clip, sr) for clip in clips]
    return clips, sr


def train_style_classifier(
    sets: dict[str, Sequence[str | os.PathLike]],
    splits: Sequence[str] = ("train",),
    seconds: float | None = None,
    embedding: bool = True,
    l2: float = 1e-2,
    transform: Transform | None = None,
) -> StyleClassifier:
    """Fit on renders: `{label: [render root, ...]}`, e.g. {"western": [pop4, techhouse5],
    "traditional": [traditional]}; the last label is the one `compare_systems` counts.
    `transform(clip, samplerate)` is applied to every clip first (see `render_clips`)."""
    feats, labels = [], []
    for label, roots in sets.items():
        for root in roots:
            clips, sr = render_clips(root, splits, seconds, transform)
            if clips:
                feats.append(clip_features(clips, sr, embedding))
                labels += [label] * len(clips)
    if len(set(labels)) < 2:
        raise DataError("style classifier: need clips of at least two labels in the given splits")
    return StyleClassifier(list(sets), embedding, l2).fit(np.concatenate(feats), labels)
