"""The paper's experiment (Ge et al., TIP 2019, Sections III-IV): a face dataset -> teacher features -> Eq. 3
selection -> students S-p-{c,s,sc,dc} at every resolution -> LFW View 2, resumable at every step.

With UMDFaces (manual download) and the VGGFace weights, the paper's setting:

    python -m data_builders.umdfaces --manual_dir=/data/umdfaces --data_dir=~/tensorflow_datasets --config=aligned_224
    python -m experiments.paper_pipeline --dataset=umdfaces/aligned_224 --data_dir=~/tensorflow_datasets \\
        --teacher=vggface16 --teacher_weights=/data/vggface/rcmalli_vggface_tf_vgg16.h5 \\
        --resolutions=16,32,64,96 --perturbations=16 --out_dir=runs/paper

Any one-folder-per-identity face set with a 5-point landmarks CSV (CASIA-WebFace, VGGFace2, ...) goes through
`python -m data_builders.face_folder` first and then `--dataset=face_folder/aligned_150` (dlib teacher) or
`aligned_224` (VGGFace). It prints the LFW View-2 table (T, T-p-up, every student's identity / mimic / both / cross:
AUC, 10-fold accuracy over the official folds, TAR at FAR 1e-3 / 1e-2, EER), our headline AUC beside the paper's
Fig. 7 values, and the paper's orderings with paired-bootstrap intervals. `experiments/lfw_lowres.py` is this
pipeline configured to train on LFW people and test on a held-out fold.
"""
from __future__ import annotations

from absl import app, flags

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("dataset", None, "TFDS dataset with its config (e.g. umdfaces/aligned_224) or a prepared "
                        "dataset folder: aligned chips with landmarks, labels (and row_id)")
    flags.DEFINE_string("data_dir", None, "TFDS data directory")
    flags.DEFINE_string("split", "train", "split to train on")
    flags.DEFINE_string("teacher", "dlib_resnet", "teacher (skd_tf.models.teachers): dlib_resnet (150-px chips) or "
                        "vggface16 (224-px chips, the paper's)")
    flags.DEFINE_string("teacher_weights", None, "teacher weight file (vggface16)")
    flags.DEFINE_string("lfw_root", None, "LFW folder for the View-2 evaluation (default ../shared/data/lfw)")
    flags.DEFINE_list("eval_folds", None, "View-2 folds to score (default: all ten)")
    flags.DEFINE_integer("max_test_pairs", None, "only the first pairs of those folds, half matched (smoke runs)")
    flags.DEFINE_list("resolutions", ["16", "32", "64", "96"], "student resolutions p (the paper's four)")
    flags.DEFINE_list("modes", ["c", "s", "sc", "dc"], "stage-3 supervision modes (Section IV-C)")
    flags.DEFINE_integer("perturbations", 16, "landmark perturbations per face (Section IV-A: 16)")
    flags.DEFINE_enum("sampling", "fixed", ["fixed", "fresh"], "the same perturbations every epoch (the paper) or a "
                      "new one per face per epoch")
    flags.DEFINE_float("jitter", 0.05, "landmark jitter, in inter-ocular distances")
    flags.DEFINE_float("keep_fraction", 0.9, "lambda rule: kept fraction of the faces of multi-image classes")
    flags.DEFINE_float("lam", None, "use this lambda instead of the rule")
    flags.DEFINE_boolean("center_targets", True, "regress the teacher features centred by their training mean")
    flags.DEFINE_integer("init_epochs", 10, "stage-1 epochs")
    flags.DEFINE_integer("epochs", 6, "stage-3 epochs per mode")
    flags.DEFINE_integer("batch_size", 256, "global batch size (the paper's)")
    flags.DEFINE_float("learning_rate", 1e-3, "stage-1 learning rate")
    flags.DEFINE_float("finetune_learning_rate", 5e-4, "stage-3 learning rate")
    flags.DEFINE_enum("feature_norm", "l2", ["raw", "l2"], "regression target: raw, or L2-normalised to "
                      "--feature_scale")
    flags.DEFINE_float("feature_scale", 0.0, "target norm with --feature_norm=l2 (0: sqrt(D))")
    flags.DEFINE_enum("strategy", "auto", ["auto", "one_device", "mirrored"], "tf.distribute strategy on this machine "
                      "(several GPUs: mirrored; several machines: train each student with experiments.train_student "
                      "--strategy=multi_worker --input_shards=W)")
    flags.DEFINE_integer("seed", 0, "seed of crops, data order and initialisation")
    flags.DEFINE_string("out_dir", "runs/paper", "output folder (a rerun with the same flags resumes)")
    flags.mark_flag_as_required("dataset")


def main(argv):
    del argv
    from skd_tf.experiments.paper import PaperConfig, run_paper
    from skd_tf.training import TrainConfig

    train = TrainConfig(init_epochs=FLAGS.init_epochs, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                        learning_rate=FLAGS.learning_rate, finetune_learning_rate=FLAGS.finetune_learning_rate,
                        feature_norm=FLAGS.feature_norm, feature_scale=FLAGS.feature_scale, strategy=FLAGS.strategy,
                        seed=FLAGS.seed)
    config = PaperConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, split=FLAGS.split, teacher=FLAGS.teacher,
                         teacher_weights=FLAGS.teacher_weights, lfw_root=FLAGS.lfw_root,
                         eval_folds=tuple(int(k) for k in FLAGS.eval_folds) if FLAGS.eval_folds else None,
                         max_test_pairs=FLAGS.max_test_pairs,
                         resolutions=tuple(int(p) for p in FLAGS.resolutions), modes=tuple(FLAGS.modes),
                         perturbations=FLAGS.perturbations, sampling=FLAGS.sampling, jitter=FLAGS.jitter,
                         center_targets=FLAGS.center_targets,
                         keep_fraction=FLAGS.keep_fraction, lam=FLAGS.lam, train=train)
    run_paper(config, FLAGS.out_dir)


if __name__ == "__main__":
    define_flags()
    app.run(main)
