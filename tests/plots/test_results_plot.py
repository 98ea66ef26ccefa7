import cv2
import numpy as np

from skd_tf.plots.results import plot_model_bars


def test_bar_chart_is_a_png_with_content(tmp_path):
    path = tmp_path / "fig7.png"
    plot_model_bars({"T": 99.0, "S-16-c": 60.0, "S-16-sc": 75.0}, path, ylabel="AUC (%)", title="t",
                    reference={"S-16-sc": 80.0})
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    assert float(np.std(image)) > 5.0  # not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["fig7.png"]
