"""Writing a finished matplotlib figure: one PNG written atomically (temporary name, then rename), figure closed."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from skd_tf.utils.io import atomic_path

__all__ = ["save_figure"]


def save_figure(fig, path, *, tight_bbox: bool = False) -> Path:
    """Saves `fig` as a 120-dpi PNG at `path` (cropped to its content when `tight_bbox`), closes it; returns the
    path."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, **({"bbox_inches": "tight"} if tight_bbox else {}))
    plt.close(fig)
    return path
