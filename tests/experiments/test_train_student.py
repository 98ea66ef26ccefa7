"""skd_tf.experiments.train_student: the flat settings record (flags.json) keeps folders made by the command line
before the configs resumable; training end to end is tested in test_train_student_cli.py."""
import dataclasses

from skd_tf.configs.train_student import TrainStudentConfig
from skd_tf.experiments.train_student import UNRECORDED, settings_record
from skd_tf.training import TrainConfig
from skd_tf.utils.io import check_settings, write_json

#: The keys of flags.json as the command line wrote it before the configs (one per flag).
OLD_FLAG_KEYS = ("train_data", "val_data", "data_dir", "perturbations", "sampling", "jitter", "input_shards",
                 "resolution", "supervision", "teacher_features", "selection", "init_checkpoint", "model_dir",
                 "epochs", "init_epochs", "batch_size", "strategy", "mixed_precision", "optimizer", "learning_rate",
                 "finetune_learning_rate", "lr_schedule", "weight_decay", "cls_weight", "reg_weight", "feature_norm",
                 "feature_scale", "identity_dim", "seed", "jit_compile", "tensorboard", "verbose")


def test_record_is_flat_and_an_old_flags_json_still_matches(tmp_path):
    config = TrainStudentConfig(train_data="t.npz", teacher_features="f.npz", selection="a.npy",
                                train=dataclasses.replace(TrainStudentConfig().train, resolution=16, epochs=1))
    record = settings_record(config, "runs/x/")
    assert set(record) == set(OLD_FLAG_KEYS) | {"crop_cache"} | {f.name for f in dataclasses.fields(TrainConfig)}
    assert record["model_dir"] == "runs/x/" and record["resolution"] == 16 and record["train_data"] == "t.npz"
    old = {k: record[k] for k in OLD_FLAG_KEYS}  # a folder of the former CLI records only its flags
    write_json(tmp_path / "flags.json", old)
    check_settings(tmp_path / "flags.json", record, write=False, ignore=UNRECORDED,
                   defaults=settings_record(TrainStudentConfig(), "runs/x/"))
