"""Training: recipes, losses, optimisers, the compiled engine, the trainer, run directories,
checkpoints, resuming and the run report."""
