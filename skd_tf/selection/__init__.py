"""Selection stage (Sec. III-C, Eq. 2-3): exact min-cut selection of informative faces, per class.

Which measure s. Eq. (3) says "Cosine distance", but the paper's own prose says the first term prefers faces with low
similarity to other classes' centroids, the second prefers faces with high similarity to their own class, and
outliers are discarded. Both hold only if s is cosine *similarity*, clipped at 0 so that s >= 0 as the paper requires
(otherwise lam * s could be positive and the energy would stop being submodular). Read literally as a distance,
1 - cos, the unary term favours faces that look like other classes and the pairwise term attracts most strongly the
faces least like their classmates, so planted wrong-label faces are kept at least as readily as clean ones and classes
tend to be kept or dropped as a whole (tests/selection/test_core.py shows both on planted data). The default is
therefore measure="similarity"; measure="distance" is the literal reading.

Public API: `select_informative`, `selection_energy`, `sweep_lambda`, `lambda_for_keep_fraction`, `SelectionResult`,
`LambdaSweep`, `compute_terms`, `exhaustive_minimum`.
"""
from skd_tf.selection.core import (
                                   DEFAULT_LAMS,
                                   LambdaSweep,
                                   SelectionResult,
                                   exhaustive_minimum,
                                   lambda_for_keep_fraction,
                                   select_informative,
                                   selection_energy,
                                   sweep_lambda,
)
from skd_tf.selection.cut import BACKENDS, solve_class
from skd_tf.selection.terms import MEASURES, SelectionTerms, compute_terms

__all__ = ["BACKENDS", "DEFAULT_LAMS", "LambdaSweep", "MEASURES", "SelectionResult", "SelectionTerms",
           "compute_terms", "exhaustive_minimum", "lambda_for_keep_fraction", "select_informative",
           "selection_energy", "solve_class", "sweep_lambda"]
