"""skd_tf.experiments.features: the command line's teacher keyword arguments and the sources a config names; the
extraction end to end (with a stand-in teacher) is tested in test_extract_features_cli.py."""
import numpy as np
import pytest

from skd_tf.configs.features import FeaturesConfig
from skd_tf.experiments.features import make_source, parse_kwargs
from skd_tf.features.extract import AlignedArraySource


def test_parse_kwargs_casts_ints_floats_bools_and_keeps_strings():
    assert parse_kwargs(["a=1", "b=x", "c=true", "d=0.5", "e=False", "f=a=b"]) == \
        {"a": 1, "b": "x", "c": True, "d": 0.5, "e": False, "f": "a=b"}
    for bad in ("novalue", "=1"):
        with pytest.raises(ValueError, match=rf"^teacher_kw: expected KEY=VALUE, got '{bad}'$"):
            parse_kwargs([bad])


def test_synthetic_source_follows_the_config_and_its_limit():
    config = FeaturesConfig(teacher="compact", source="synthetic", num_identities=2, images_per_identity=3,
                            image_size=48, limit=5, seed=1)
    source = make_source(config, 24, 0.25)
    assert isinstance(source, AlignedArraySource) and len(source) == 5
    assert source.description["generator"] == "skd_tf.data.synthetic.generate_faces"
    assert source.description["num_identities"] == 2 and source.description["seed"] == 1
    again = make_source(config, 24, 0.25)
    np.testing.assert_array_equal(source.images, again.images)

