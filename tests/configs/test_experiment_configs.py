"""The configs of skd_tf.configs.{scface, uccs, select, features, train_student, export}: each registered preset is
a valid instance of its class, a bad field is refused naming itself (dotted under train.), and a run's missing inputs
are refused by `validate(require_inputs=True)` naming them. (Every registered config validating: test_registry.)"""
import dataclasses

import pytest

from skd_tf import configs
from skd_tf.configs.export import ExportConfig
from skd_tf.configs.features import FeaturesConfig
from skd_tf.configs.scface import ScfaceConfig
from skd_tf.configs.select import SelectConfig
from skd_tf.configs.train_student import TrainStudentConfig
from skd_tf.configs.uccs import UccsConfig

PRESETS = {"scface": ScfaceConfig, "scface.quick": ScfaceConfig, "uccs": UccsConfig, "uccs.quick": UccsConfig,
           "select": SelectConfig, "select.fig5": SelectConfig, "select.fig6": SelectConfig,
           "features": FeaturesConfig, "features.lfw": FeaturesConfig,
           "features.lfw.quick": FeaturesConfig, "train_student": TrainStudentConfig,
           "train_student.quick": TrainStudentConfig, "export": ExportConfig, "export.quick": ExportConfig}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_registered_and_valid(name):
    config = configs.get_config(name)
    assert type(config) is PRESETS[name] and config.validate() is config
    if name.endswith(".quick"):  # a quick variant is cheaper than its experiment
        assert config != configs.get_config(name.removesuffix(".quick"))


@pytest.mark.parametrize("config,overrides,pattern", [
    (ScfaceConfig(), {"protocol": "near"}, r"^protocol: expected one of \('paper', .*got 'near'"),
    (ScfaceConfig(), {"resolution": 0}, r"^resolution: expected an integer >= 1, got 0"),
    (ScfaceConfig(), {"embedding": "logits"}, r"^embedding: expected one of \('identity', 'mimic'\), got 'logits'"),
    (ScfaceConfig(), {"train.batch_size": 0}, r"^train\.batch_size: expected an integer >= 1, got 0"),
    (ScfaceConfig(), {"train.supervision": "dc"}, r"^train\.supervision: expected 'c' \(SCface fine-tunes"),
    (UccsConfig(), {"num_subjects": -3}, r"^num_subjects: expected an integer >= 1, got -3"),
    (UccsConfig(), {"freeze": "yes"}, r"^freeze: expected a bool, got 'yes'"),
    (UccsConfig(), {"train.resolution": 0}, r"^train\.resolution: expected an integer >= 1, got 0"),
    (SelectConfig(), {"sweep": True, "keep_fraction": 2.0}, r"^keep_fraction: expected a fraction of faces kept in "),
    (SelectConfig(), {"sweep": True, "measure": "angle"}, r"^measure: expected one of"),
    (FeaturesConfig(), {"source": "camera"}, r"^source: expected 'synthetic', 'lfw' or 'tfds:<name>', got 'camera'"),
    (FeaturesConfig(), {"dtype": "int8"}, r"^dtype: expected one of \('float32', 'float16'\), got 'int8'"),
    (FeaturesConfig(), {"batch_size": 0}, r"^batch_size: expected an integer >= 1, got 0"),
    (FeaturesConfig(), {"teacher_kwargs": ["weights=x"]}, r"^teacher_kwargs: expected a dict"),
    (TrainStudentConfig(), {"sampling": "random"}, r"^sampling: expected one of \('fixed', 'fresh'\), got 'random'"),
    (TrainStudentConfig(), {"jitter": -0.1}, r"^jitter: expected a finite number >= 0, got -0.1"),
    (TrainStudentConfig(), {"train.weight_decay": float("inf")}, r"^train\.weight_decay: expected a finite number"),
    (TrainStudentConfig(), {"init_checkpoint": "nope.weights.h5"}, r"^init_checkpoint: nope.weights.h5 does not exist"),
    (ExportConfig(), {"kinds": ("float32", "int4")}, r"^kinds: expected a non-empty subset of \('saved_model', "),
    (ExportConfig(), {"representative": "camera"}, r"^representative: expected npz:PATH, npy:PATH, lfw, synthetic "),
    (ExportConfig(), {"num_representative": 0}, r"^num_representative: expected an integer >= 1, got 0"),
])
def test_a_bad_field_names_itself(config, overrides, pattern):
    with pytest.raises((ValueError, FileNotFoundError), match=pattern):
        configs.apply_overrides(config, overrides)


@pytest.mark.parametrize("config,pattern", [
    (UccsConfig(), r"^uccs_csv: None does not exist \(expected the UCCS ground-truth CSV\)"),
    (SelectConfig(lam=-1.0), r"^features: None does not exist"),
    (SelectConfig(), r"^lam: give lam, or sweep \(optionally with keep_fraction\)$"),
    (FeaturesConfig(source="lfw"), r"^teacher: required, got None"),
    (FeaturesConfig(teacher="dlib_resnet"), r"^source: required, got None"),
    (TrainStudentConfig(), r"^train_data: required"),
    (TrainStudentConfig(train_data="x.npz"), r"^train\.supervision='sc' regresses the teacher's features \(Eq. 6\)"),
    (TrainStudentConfig(train_data="x.npz", teacher_features="f.npz"), r"^train\.supervision='sc' weights L_reg by "),
    (ExportConfig(), r"^checkpoint: required"),
])
def test_a_run_needs_its_inputs(config, pattern):
    config.validate()  # a config not yet pointed at its data is valid
    with pytest.raises((ValueError, FileNotFoundError), match=pattern):
        config.validate(require_inputs=True)


def test_train_student_dc_needs_no_selection_and_epochs_0_no_features():
    dc = TrainStudentConfig(train_data="x.npz", teacher_features="f.npz",
                            train=dataclasses.replace(TrainStudentConfig().train, supervision="dc"))
    assert dc.validate(require_inputs=True) is dc
    stage1 = TrainStudentConfig(train_data="x.npz", train=dataclasses.replace(TrainStudentConfig().train, epochs=0))
    assert stage1.validate(require_inputs=True) is stage1
