"""absl flags for the experiment CLIs: `--config=NAME` (`--quick` appends ".quick"), and flags that override single
config fields. An override flag defaults to None, meaning "the config's value", so no CLI repeats a config default.

    config_flags.define_config_flags("demo")
    config_flags.define_override("lam", "float", "lambda of Eq. (3) (<= 0)")
    config_flags.define_override("seed", "int", "seed of every random choice", key="train.seed")
    ...
    config = config_flags.config_from_flags()     # in main(): get_config(NAME) with the flags given applied
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from absl import flags

from skd_tf.configs import apply_overrides, get_config

FLAGS = flags.FLAGS

_KINDS: dict[str, tuple[Callable[..., Any], Callable[[Any], Any]]] = {
    "int": (flags.DEFINE_integer, lambda v: v),
    "float": (flags.DEFINE_float, lambda v: v),
    "string": (flags.DEFINE_string, lambda v: v),
    "bool": (flags.DEFINE_bool, lambda v: v),
    "ints": (flags.DEFINE_list, lambda v: tuple(int(x) for x in v)),
    "floats": (flags.DEFINE_list, lambda v: tuple(float(x) for x in v)),
    "strings": (flags.DEFINE_list, tuple),
}
_OVERRIDES: dict[str, tuple[str, Callable[[Any], Any]]] = {}  # flag name -> (config key, converter)


def define_config_flags(default: str, quick: bool = True) -> None:
    """--config (a registered name, `skd_tf.configs.config_names()`), and --quick where the config has a quick
    variant."""
    flags.DEFINE_string("config", default, "registered config to start from (skd_tf.configs.config_names())")
    if quick:
        flags.DEFINE_bool("quick", False, f"the smoke run: '.quick' appended to --config (e.g. {default}.quick)")


def define_override(name: str, kind: str, help_text: str, *, key: str | None = None,
                    choices: Sequence[str] | None = None) -> None:
    """A flag `--name` overriding config field `key` (default: `name`; dotted for nested fields, "train.epochs").
    `kind`: int, float, string, bool, ints, floats or strings (comma-separated lists), or enum (with `choices`)."""
    if kind == "enum":
        flags.DEFINE_enum(name, None, list(choices), f"{help_text} (default: the config's)")
        convert = _KINDS["string"][1]
    else:
        define, convert = _KINDS[kind]
        define(name, None, f"{help_text} (default: the config's)")
    if kind in ("ints", "floats"):
        number = int if kind == "ints" else float
        flags.register_validator(name, lambda values: values is None or all(_parses(number, v) for v in values),
                                 message=f"expected comma-separated {'integers' if kind == 'ints' else 'numbers'}")
    _OVERRIDES[name] = (key or name, convert)


def _parses(number: Callable[[str], Any], text: str) -> bool:
    try:
        number(text)
    except ValueError:
        return False
    return True


def define_paper_flags() -> None:
    """The flags of the paper's pipeline shared by `experiments.paper_pipeline`, `experiments.lfw_lowres` and
    `experiments.noise_study` (`skd_tf.configs.paper.PaperConfig`)."""
    define_override("dataset", "string", "TFDS dataset with its config (e.g. umdfaces/aligned_224) or a prepared "
                    "dataset folder: aligned chips with landmarks, labels and row_id")
    define_override("data_dir", "string", "TFDS data directory")
    define_override("teacher_cache", "string", "folder of the teacher-feature cache, shareable by runs on the same "
                    "dataset and teacher (default: out_dir/teacher_features)")
    define_override("lfw_root", "string", "LFW folder with lfw-deepfunneled/, protocol/, dlib/ for the View-2 "
                    "evaluation (None: ../shared/data/lfw)")
    define_override("uccs_csv", "string", "UCCS ground-truth CSV: also run UCCS identification (Section IV-D) with "
                    "--uccs_student")
    define_override("uccs_student", "string", "the run's student fine-tuned on UCCS (the paper's S-16-sc)")
    define_override("scface_dir", "string", "SCface release folder: also run SCface retrieval (Section IV-E) with "
                    "--scface_student")
    define_override("scface_student", "string", "the run's student fine-tuned on SCface (the paper's S-64-sc)")
    define_override("max_test_pairs", "int", "only the first pairs of the test folds, half matched (smoke runs)")
    define_override("resolutions", "ints", "student input resolutions p")
    define_override("modes", "strings", "supervision modes of stage 3 (Section IV-C)")
    define_override("perturbations", "int", "low-resolution versions per training face (Section IV-A: 16)")
    define_override("sampling", "enum", "fixed: the same --perturbations crops of a face every epoch (the paper); "
                    "fresh: one new crop per face per epoch", choices=("fixed", "fresh"))
    define_override("jitter", "float", "landmark jitter, in inter-ocular distances")
    define_override("student_input", "enum", "stream: degrade the chips in tf.data every epoch (memory flat in the "
                    "number of faces); disk: render the fixed crops once into out_dir/crops and stream them from "
                    "there (the same batches); memory: render them once into memory (small data)",
                    choices=("stream", "disk", "memory"))
    define_override("label_noise", "float", "plant wrong labels on this fraction of the training faces of people "
                    "with >= 2 images (skd_tf.data.noise)")
    define_override("unusable_noise", "float", "plant unusable (blurred, occluded) faces on this fraction "
                    "(needs --student_input=memory)")
    define_override("center_targets", "bool", "regress the teacher features centred by their training mean (the "
                    "mimic layer's bias could absorb the shift, but Adam's bounded steps would need thousands of "
                    "steps to learn the dlib descriptors' ~0.9-per-dimension common offset); the cross-resolution "
                    "score then compares the mimic feature with the centred teacher feature")
    define_override("keep_fraction", "float", "lambda rule: kept fraction of the faces of multi-image classes")
    define_override("lam", "float", "use this lambda instead of the rule")
    define_override("init_epochs", "int", "stage-1 (softmax) epochs", key="train.init_epochs")
    define_override("epochs", "int", "stage-3 epochs per mode", key="train.epochs")
    define_override("batch_size", "int", "global mini-batch size (the paper's: 256)", key="train.batch_size")
    define_override("learning_rate", "float", "Adam learning rate of stage 1 (cosine decay per stage)",
                    key="train.learning_rate")
    define_override("finetune_learning_rate", "float", "Adam learning rate of stage 3",
                    key="train.finetune_learning_rate")
    define_override("feature_norm", "enum", "regression target: raw teacher feature, or L2-normalised and "
                    "multiplied by --feature_scale", key="train.feature_norm", choices=("raw", "l2"))
    define_override("feature_scale", "float", "target norm for --feature_norm=l2 (0: sqrt(D), i.e. O(1) per "
                    "dimension, as the paper's 4096-D VGGFace fc7 targets; raw dlib descriptors have norm 1.42 "
                    "(centred 0.58), which leaves L_reg far below L_cls under Eq. 4's equal weights)",
                    key="train.feature_scale")
    define_override("flip", "bool", "mirror the crops of half of the training faces each epoch (a recipe factor; "
                    "the paper does not flip)", key="train.flip")
    define_override("student_arch", "string", "student widths: a name in skd_tf.models.student.ARCHS (paper: "
                    "Fig. 3; budget_d128: 0.79M parameters at D = 128)", key="train.student_arch")
    define_override("seed", "int", "seed of crops, data order and initialisation", key="train.seed")
    define_override("mixed_precision", "bool", "mixed_float16 on GPU, mixed_bfloat16 on CPU (float32 variables, "
                    "mimic and logits; benchmarks/precision_throughput.py measures what it gives)",
                    key="train.mixed_precision")
    define_override("jit_compile", "bool", "XLA-compile the train step", key="train.jit_compile")


def config_from_flags(name: str | None = None) -> Any:
    """The config `name` (default: the one --config and --quick name), with every override flag given applied."""
    name = name or FLAGS.config + (".quick" if "quick" in FLAGS and FLAGS.quick else "")
    given = {key: convert(FLAGS[flag].value) for flag, (key, convert) in _OVERRIDES.items()
             if FLAGS[flag].value is not None}
    return apply_overrides(get_config(name), given)
