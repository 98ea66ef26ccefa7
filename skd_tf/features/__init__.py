"""Teacher features: the resumable sharded cache (`cache`) and the extraction loop that fills it (`extract`).

Section III-C of the paper computes f_i = phi^_t(F_i) for every training face once; selection (Eq. 3) and
fine-tuning (Eq. 4-6) read them back with `load_features(cache_dir) -> (features [N, D], row_ids [N])`.
"""
from skd_tf.features.cache import CacheError, load_features, load_manifest

__all__ = ["CacheError", "load_features", "load_manifest"]
