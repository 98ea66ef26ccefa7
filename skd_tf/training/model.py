"""`DistillationModel`: a keras.Model wrapping the student whose `compute_loss` is Eq. 4 (Section III-D).

The teacher is never run here: its features arrive in the batch (`y["feature"]`, read from the teacher-feature
cache and joined by row id in `skd_tf.data.pipeline`). The wrapper owns no weights of its own, so its
`trainable_weights` are exactly the student's and training changes nothing else.

Batches are `(images [B, p, p, 3], {"label": [B], "feature": [B, D], "alpha": [B]})`; mode `c` needs only "label".
Keras' own `train_step` is kept (gradient tape, loss scaling for mixed precision, tf.distribute all-reduce); only
`compute_loss` is overridden. Under a tf.distribute strategy each replica returns its batch-mean loss divided by the
number of replicas, so the summed gradients equal those of the global batch mean.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras.src.losses.loss import scale_loss_for_distribution

from skd_tf.training import losses as L


class DistillationModel(keras.Model):
    """Trains `student` with supervision `mode` in {c, s, sc, dc} (Section IV-C)."""

    def __init__(self, student: keras.Model, mode: str = "sc", cls_weight: float = 1.0, reg_weight: float = 1.0,
                 feature_norm: str = "raw", feature_scale: float = 1.0, **kwargs):
        super().__init__(name=kwargs.pop("name", f"distill_{mode}"), **kwargs)
        L.check_mode(mode)
        if feature_norm not in L.FEATURE_NORMS:
            raise ValueError(f"feature_norm: expected one of {L.FEATURE_NORMS}, got {feature_norm!r}")
        self.student = student
        self.mode = mode
        self.cls_weight = float(cls_weight)
        self.reg_weight = float(reg_weight)
        self.feature_norm = feature_norm
        self.feature_scale = float(feature_scale)
        self.cls_tracker = keras.metrics.Mean(name="cls_loss")
        self.reg_tracker = keras.metrics.Mean(name="reg_loss")
        self.acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def call(self, images, training=False):
        return self.student(tf.cast(images, tf.float32), training=training)

    def build(self, input_shape=None):
        self.built = True

    def losses_for(self, y: dict, y_pred: dict) -> dict:
        y = y if isinstance(y, dict) else {"label": y}
        return L.distillation_losses(
            y_pred, y["label"], y.get("feature"), y.get("alpha"), mode=self.mode, cls_weight=self.cls_weight,
            reg_weight=self.reg_weight, feature_norm=self.feature_norm, feature_scale=self.feature_scale)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        terms = self.losses_for(y, y_pred)
        n = tf.shape(y_pred["logits"])[0]
        self.cls_tracker.update_state(terms["cls_loss"], sample_weight=n)
        self.reg_tracker.update_state(terms["reg_loss"], sample_weight=n)
        labels = y["label"] if isinstance(y, dict) else y
        self.acc_tracker.update_state(labels, y_pred["logits"])
        loss = terms["loss"]
        for extra in self.losses:  # regularisers, if a student defines any
            loss = loss + tf.cast(tf.reduce_sum(extra), loss.dtype)
        return scale_loss_for_distribution(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The running metrics. Across workers Keras 3 reduces each step's metrics with
        `strategy.reduce("MEAN", value, axis=0)`, which fails for scalars (keras-team/keras#20585); as `[1]`
        vectors that reduce is exactly the mean over replicas. Epoch logs are read from the metric variables and
        stay scalars."""
        results = self.get_metrics_result()
        strategy = self.distribute_strategy
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
                strategy.extended._in_multi_worker_mode():  # the condition under which Keras takes that path
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds from the first local replica's batch. Keras 3 learns a distributed batch's shapes by all-reducing
        it across workers, which fails under MultiWorkerMirroredStrategy (keras-team/keras#20585: "Attempt to
        convert a value (PerReplica...)"); the local values have the same structure and dtypes. Keras resets the
        epoch iterator after this call, so no batch is lost."""
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: self._distribute_strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, next(it))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
