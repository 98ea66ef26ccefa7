"""The experiments' run logic, callable from Python (the `experiments/` CLIs parse flags and call these)."""
