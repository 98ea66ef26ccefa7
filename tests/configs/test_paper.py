"""skd_tf.configs.paper: PaperConfig.validate() names the field, the expected range and the value."""
import pytest

from skd_tf.configs.paper import PaperConfig


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(modes=("c", "xx")), r"^supervision: expected one of \('c', 's', 'sc', 'dc'\), got 'xx'$"),
    (dict(keep_fraction=2.0), r"^keep_fraction: expected a value in \[0, 1\], got 2.0$"),
    (dict(keep_fraction=float("nan")), r"^keep_fraction: expected a value in \[0, 1\], got nan$"),
])
def test_bad_modes_and_keep_fraction_are_refused_by_the_config(kwargs, pattern):
    """What the config (validated before any work) raises for --modes=c,xx / --keep_fraction=2."""
    with pytest.raises(ValueError, match=pattern):
        PaperConfig(lfw_train_fold=1, **kwargs).validate()
    PaperConfig(lfw_train_fold=1, modes=("c", "sc"), keep_fraction=1.0).validate()  # the values around them pass
