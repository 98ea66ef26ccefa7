"""The paper's experiment (Ge et al., TIP 2019, Sections III-IV): a face dataset -> teacher features -> Eq. 3
selection -> students S-p-{c,s,sc,dc} at every resolution -> LFW View 2, resumable at every step
(`skd_tf.experiments.paper.run_paper`, config `skd_tf.configs.paper`).

With UMDFaces (manual download) and the VGGFace weights, the paper's setting (`--config=paper.umdfaces`: aligned
224-px chips, the VGGFace teacher, students at 16/32/64/96 px, 16 perturbations per face):

    python -m data_builders.umdfaces --manual_dir=/data/umdfaces --data_dir=~/tensorflow_datasets --config=aligned_224
    python -m experiments.paper_pipeline --config=paper.umdfaces --data_dir=~/tensorflow_datasets \\
        --teacher_weights=/data/vggface/rcmalli_vggface_tf_vgg16.h5 --out_dir=runs/paper

Any one-folder-per-identity face set with a 5-point landmarks CSV (CASIA-WebFace, VGGFace2, ...) goes through
`python -m data_builders.face_folder` first and then `--dataset=face_folder/aligned_150` (the default config
`paper`: dlib teacher) or `aligned_224` (with `--teacher=vggface16`). Flags left unset take the config's value. It
prints the LFW View-2 table (T, T-p-up, every student's identity / mimic / both / cross: AUC, 10-fold accuracy over
the official folds, TAR at FAR 1e-3 / 1e-2, EER), our headline AUC beside the paper's Fig. 7 values (T 97.15,
S-32-c 70.23, S-32-sc 89.72, S-96-sc 95.03), and the paper's orderings with paired-bootstrap intervals.
`experiments/lfw_lowres.py` is this pipeline configured to train on LFW people and test on a held-out fold.
"""
import json

from absl import app, flags, logging

from skd_tf.configs import flags as config_flags
from skd_tf.experiments.paper import run_paper

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("out_dir", "runs/paper", "output folder (a rerun with the same flags resumes)")
    config_flags.define_config_flags("paper", quick=False)
    config_flags.define_paper_flags()
    config_flags.define_override("split", "string", "split to train on")
    config_flags.define_override("teacher", "string", "teacher (skd_tf.models.teachers): dlib_resnet (150-px "
                                 "chips) or vggface16 (224-px chips, the paper's)")
    config_flags.define_override("teacher_weights", "string", "teacher weight file (vggface16)")
    config_flags.define_override("eval_folds", "ints", "View-2 folds to score (None: all ten)")
    config_flags.define_override("strategy", "enum", "tf.distribute strategy on this machine (several GPUs: "
                                 "mirrored; several machines: train each student with experiments.train_student "
                                 "--strategy=multi_worker --input_shards=W)", key="train.strategy",
                                 choices=("auto", "one_device", "mirrored"))
    flags.adopt_module_key_flags(config_flags)


def main(argv):
    del argv
    result = run_paper(config_flags.config_from_flags(), FLAGS.out_dir, log=logging.info)
    print(result["table"] + "\n\n" + result["paper_table"], flush=True)
    print(json.dumps({"out_dir": FLAGS.out_dir}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
