"""Transfer of a pre-trained student to new identities (Sections IV-D and IV-E: UCCS and SCface fine-tune the
UMDFaces-trained students on their own training subjects)."""
from __future__ import annotations

from skd_tf.models.student import arch_of, build_student


def transfer_student(pretrained, resolution: int, num_classes: int, identity_dim: int | None = None, seed: int = 0):
    """A new student (`build_student`) for `num_classes` identities carrying the pre-trained weights.

    The new student has the pre-trained one's architecture (`arch_of`). Every layer whose weights have the same
    shapes is copied (the convolutions, batch norms and the mimic layer, at any resolution since the trunk is fully
    convolutional with global pooling); the softmax layer is always new and the identity layer is new when
    `identity_dim` differs from the pre-trained one.
    Returns (student, names of the copied layers).
    """
    feature_dim = int(pretrained.get_layer("mimic").units)
    identity_dim = int(identity_dim or pretrained.get_layer("identity").units)
    student = build_student(int(resolution), feature_dim=feature_dim, num_classes=int(num_classes),
                            identity_dim=identity_dim, seed=seed, arch=arch_of(pretrained))
    copied = []
    for layer in student.layers:
        if layer.name == "logits" or not layer.weights:
            continue
        try:
            source = pretrained.get_layer(layer.name)
        except ValueError:
            continue
        src = source.get_weights()
        if [w.shape for w in src] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(src)
            copied.append(layer.name)
    return student, copied
