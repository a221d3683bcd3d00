"""One module per tab; each has `build(ctx)` that lays out widgets inside the app's Blocks."""
