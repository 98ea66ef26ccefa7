"""The selection stage (paper Section III-C, Eq. 3; Figs. 5-6): `SelectConfig`, registered as "select" (nothing
chosen: a run gives `lam` or `sweep`, as the command line does), "select.fig5" (the lam sweep of Fig. 5) and
"select.fig6" (the sweep, the swept lam keeping the fraction closest to 90%, and the Fig. 6 plots). No quick variant:
the selection of a feature file takes seconds to minutes.

    from skd_tf.experiments import run
    run("select.fig5", "runs/select/x", {"features": "runs/cache/x", "labels": "runs/x/labels.npy"})
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from skd_tf.configs import register
from skd_tf.selection import BACKENDS, MEASURES
from skd_tf.selection.core import check_lam
from skd_tf.utils.checks import check_bool, check_choice, check_file, check_int


@dataclasses.dataclass
class SelectConfig:
    """One selection run (`skd_tf.experiments.select`): a single `lam`, or the `sweep` (optionally selecting at the
    swept lam whose kept fraction is closest to `keep_fraction`)."""
    features: str | None = None          # .npy [N, D] teacher features or a feature-cache directory (needed to run)
    labels: str | None = None            # .npy of N integer labels, same order (needed to run)
    lam: float | None = None             # lam <= 0 of Eq. 3
    sweep: bool = False                  # the Fig. 5 lam sweep
    lams: tuple[float, ...] | None = None  # the sweep's lams; None: skd_tf.selection.DEFAULT_LAMS
    keep_fraction: float | None = None   # with sweep: select at the swept lam whose kept fraction is closest
    backend: str = "scipy"               # min-cut solver: scipy | networkx | pymaxflow
    measure: str = "similarity"          # s in Eq. 3: clipped cosine similarity, or the literal cosine distance
    workers: int | None = None           # processes for the per-class cuts; None: all CPUs
    fig6: bool = False                   # the Fig. 6 embedding plot (t-SNE, or PCA without scikit-learn)
    images: str | None = None            # .npy [N, H, W, 3] face images for the Fig. 6 contact sheet
    fig6_classes: int = 5                # classes shown in Fig. 6

    def validate(self, require_inputs: bool = False) -> "SelectConfig":
        """Every field, checked before anything is computed or written: ranges (lam, lams <= 0 and finite,
        keep_fraction in [0, 1], workers and fig6_classes >= 1), enums, combinations, and that every file given
        exists; `require_inputs` (before a run) also needs features, labels, and lam or sweep. Raises ValueError /
        FileNotFoundError naming the field and what was expected."""
        check_bool("sweep", self.sweep)
        check_bool("fig6", self.fig6)
        if self.keep_fraction is not None and not self.sweep:
            raise ValueError(f"keep_fraction: needs sweep (the lam is chosen among the swept ones), got "
                             f"keep_fraction={self.keep_fraction} without it")
        if self.lam is not None:
            check_lam(self.lam)
        if self.lams and not self.sweep:
            raise ValueError(f"lams: the lams of the Fig. 5 sweep need sweep (got lams={list(self.lams)})")
        for x in self.lams or ():
            try:
                check_lam(x)
            except ValueError as exc:
                raise ValueError(f"lams: {str(exc).removeprefix('lam: ')}") from None
        if self.keep_fraction is not None:
            try:
                fraction = float(self.keep_fraction)
            except (TypeError, ValueError):
                raise ValueError(f"keep_fraction: expected a number in [0, 1], got {self.keep_fraction!r}") from None
            if not 0.0 <= fraction <= 1.0:  # NaN fails too
                raise ValueError(f"keep_fraction: expected a fraction of faces kept in [0, 1], got {fraction}")
            if self.lam is not None:
                raise ValueError(f"lam={float(self.lam):g} and keep_fraction={fraction:g}: give one of them "
                                 f"(keep_fraction picks the swept lam)")
        check_choice("backend", self.backend, BACKENDS)
        check_choice("measure", self.measure, MEASURES)
        if self.workers is not None:
            check_int("workers", self.workers, 1)
        if self.fig6:
            if self.lam is None and self.keep_fraction is None:
                raise ValueError("fig6: plots one selection; give lam, or sweep with keep_fraction")
            check_int("fig6_classes", self.fig6_classes, 1)
        if self.images and not self.fig6:
            raise ValueError("images: only used for the Fig. 6 contact sheet; give fig6 too")
        if require_inputs and self.lam is None and not self.sweep:
            raise ValueError("lam: give lam, or sweep (optionally with keep_fraction)")
        if require_inputs or self.features is not None:
            if not self.features or not Path(self.features).exists():
                raise FileNotFoundError(f"features: {self.features} does not exist (expected .npy [N, D] or a "
                                        f"feature-cache directory)")
        if require_inputs or self.labels is not None:
            check_file("labels", self.labels, ".npy of N integers")
        if self.images:
            check_file("images", self.images, ".npy [N, H, W, 3] face images")
        return self


register("select", SelectConfig)
register("select.fig5", lambda: SelectConfig(sweep=True))
register("select.fig6", lambda: SelectConfig(sweep=True, keep_fraction=0.9, fig6=True))
