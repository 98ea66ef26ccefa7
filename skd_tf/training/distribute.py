"""tf.distribute strategy and precision selection for student training (no CPU-only code paths).

`auto`: MultiWorkerMirroredStrategy when TF_CONFIG names more than one worker, MirroredStrategy over all GPUs when
there are several, otherwise TensorFlow's default strategy (first GPU, else CPU). `one_device`: OneDeviceStrategy on
the first GPU (or the CPU). `mirrored` uses every local GPU (or
every logical CPU device when there is no GPU), `multi_worker` reads TF_CONFIG.
"""
from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def _tf_config_workers() -> int:
    try:
        cfg = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG: expected JSON, got {os.environ.get('TF_CONFIG')!r} ({e})") from None
    cluster = cfg.get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("worker", "chief"))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy called `name` (one of STRATEGIES)."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}, got {name!r}")
    if name == "multi_worker" or (name == "auto" and _tf_config_workers() > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "auto":
        # Several GPUs: mirror over them; otherwise the default strategy (TensorFlow places work on the GPU when
        # there is one), which adds no distribution overhead.
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints and logs (always true outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def set_mixed_precision(enabled: bool) -> str:
    """Sets the global Keras dtype policy: `mixed_float16` on GPU, `mixed_bfloat16` on CPU, or `float32`."""
    if not enabled:
        policy = "float32"
    else:
        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy
