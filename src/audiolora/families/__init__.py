"""Model families: load a base, default targets, batch -> loss, evaluate, infer."""
