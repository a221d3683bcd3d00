"""The data side: stem-folder datasets and their checks, rendering from scores and MIDI, splitting,
augmentation and caption sidecars.

- `stems`: `StemDataset` (fixed segments of `<split>/<track>/<source>.wav`), `stem_datasets(config)`
- `checks`: `check_dataset(root, sources)` -> `CheckReport` (`audiolora data check`)
- `render`: `render_dataset(recipe, out, tracks)` with FluidSynth (`audiolora data render`)
- `split`: `split_dataset(src, dst, seconds, min_seconds)` (`audiolora data split`)
- `augment`: `StemAugment` on `[B, S, C, T]` batches with a `torch.Generator`
- `captions`: `<audio>.json` sidecars and captions CSV for text-conditioned families
"""
