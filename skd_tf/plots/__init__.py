"""Figures (matplotlib, Agg backend): one module per topic, each writing PNGs atomically."""
import matplotlib

matplotlib.use("Agg")
