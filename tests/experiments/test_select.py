"""skd_tf.experiments.select (Sec. III-C, Eq. 3; Figs. 5-6): the selection, the sweep, Fig. 6, and every field and
input checked before any work; the CLI is tested in test_select_cli.py."""
import json

import numpy as np
import pytest

from skd_tf import experiments
from skd_tf.configs.select import SelectConfig
from skd_tf.experiments import select


def _data(tmp_path, n_cls=4, k=9, dtype=np.float32):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(n_cls, 12))
    labels = np.repeat(np.arange(n_cls) * 10 + 3, k)
    f = np.abs(centers[np.repeat(np.arange(n_cls), k)] + 0.4 * rng.normal(size=(n_cls * k, 12))).astype(dtype)
    np.save(tmp_path / "f.npy", f)
    np.save(tmp_path / "l.npy", labels)
    return f, labels


def test_sweep_keep_fraction_fig6_and_options(tmp_path):
    f, labels = _data(tmp_path, dtype=np.float16)
    images = np.random.default_rng(1).integers(0, 255, size=(labels.size, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "img.npy", images)
    out = tmp_path / "sw"
    res = select.run(SelectConfig(features=str(tmp_path / "f.npy"), labels=str(tmp_path / "l.npy"), sweep=True,
                                         keep_fraction=0.5, backend="pymaxflow", workers=1, fig6=True,
                                         images=str(tmp_path / "img.npy")), out)
    sw = json.loads((out / "sweep.json").read_text())
    assert len(sw["lams"]) == 15 and sw["lams"][0] == -8192 and sw["lams"][-1] == 0
    assert (out / "fig5_lambda_sweep.png").stat().st_size > 0 and (out / "fig6_embedding.png").is_file()
    alphas = np.load(out / "sweep_alphas.npy")
    assert alphas.shape == (15, labels.size) and np.all(alphas[1:] <= alphas[:-1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lam"] in sw["lams"] and "lam_rule" in summary
    if not np.load(out / "alpha.npy").all():
        assert "fig6_discarded" in res["written"]
    assert select.format_result(res).splitlines()[0].startswith(f"lam={summary['lam']:g} measure=similarity "
                                                                f"backend=pymaxflow: kept ")
    # the literal reading and another backend run too, by config name
    experiments.run("select", tmp_path / "d", {"features": str(tmp_path / "f.npy"), "labels": str(tmp_path / "l.npy"),
                                               "lam": -1.0, "measure": "distance",
                                               "backend": "networkx", "workers": 1})
    assert np.load(tmp_path / "d" / "alpha.npy").shape == labels.shape


def test_bad_input(tmp_path):
    _data(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(5, dtype=np.int64))

    def run(features="f.npy", labels="l.npy", **kw):
        return select.run(SelectConfig(features=str(tmp_path / features), labels=str(tmp_path / labels), **kw),
                                 tmp_path / "o")

    with pytest.raises(ValueError, match="does not match"):
        run(labels="short.npy", lam=-1.0)
    with pytest.raises(ValueError, match="lam"):
        run(lam=1.0)
    with pytest.raises(ValueError, match="lam"):
        run()
    with pytest.raises(FileNotFoundError):
        run(features="missing.npy", lam=-1.0)
    f = np.load(tmp_path / "f.npy")
    f[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", f)
    with pytest.raises(ValueError, match="NaN"):
        run(features="nan.npy", lam=-1.0)


def _no_work(*args, **kwargs):
    raise AssertionError("the selection ran although a field was bad")


@pytest.mark.parametrize("fields,exc,pattern", [
    (dict(sweep=True, keep_fraction=5), ValueError, r"^keep_fraction: expected a fraction of faces kept in \[0, 1\], "
                                                    r"got 5.0$"),
    (dict(sweep=True, keep_fraction=-0.1), ValueError, r"^keep_fraction: .*got -0.1$"),
    (dict(sweep=True, keep_fraction=float("nan")), ValueError, r"^keep_fraction: .*got nan$"),
    (dict(keep_fraction=0.5), ValueError, r"^keep_fraction: needs sweep"),
    (dict(sweep=True, lam=-1.0, keep_fraction=0.5), ValueError, r"^lam=-1 and keep_fraction=0.5: give one"),
    (dict(lam=0.5), ValueError, r"^lam: expected a finite number <= 0 .*got 0.5$"),
    (dict(lam=float("nan")), ValueError, r"^lam: expected a finite number <= 0"),
    (dict(sweep=True, lams=("-1", "3")), ValueError, r"^lams: expected a finite number <= 0 .*got 3.0$"),
    (dict(sweep=True, lams=("-1", "x")), ValueError, r"^lams: expected a number <= 0, got 'x'$"),
    (dict(lam=-1.0, lams=("-1",)), ValueError, r"^lams: the lams of the Fig. 5 sweep need sweep"),
    (dict(lam=-1.0, backend="magic"), ValueError, r"^backend: expected one of"),
    (dict(lam=-1.0, measure="angle"), ValueError, r"^measure: expected one of"),
    (dict(lam=-1.0, workers=0), ValueError, r"^workers: expected an integer >= 1, got 0"),
    (dict(sweep=True, fig6=True), ValueError, r"^fig6: plots one selection; give lam, or sweep with keep_fraction$"),
    (dict(lam=-1.0, fig6=True, fig6_classes=0), ValueError, r"^fig6_classes: expected an integer >= 1, got 0"),
    (dict(lam=-1.0, images="img.npy"), ValueError, r"^images: only used for the Fig. 6 contact sheet"),
    (dict(lam=-1.0, fig6=True, images="missing.npy"), FileNotFoundError, r"^images: .*missing.npy does not exist"),
    (dict(lam=-1.0, features="missing.npy"), FileNotFoundError, r"^features: .*missing.npy does not exist"),
    (dict(lam=-1.0, labels="missing.npy"), FileNotFoundError, r"^labels: .*missing.npy does not exist"),
    (dict(lam=-1.0, out_dir="f.npy"), ValueError, r"^out_dir: .*f.npy exists and is not a folder"),
    (dict(lam=-1.0, fig6=True, images="few.npy"), ValueError, r"few.npy: images: expected \[36, H, W, 3\] face "
                                                              r"images \(one per label\), got shape \(5, 8, 8, 3\)"),
    (dict(lam=-1.0, labels="cut.npy"), ValueError, r"cut.npy: unreadable labels \(truncated or corrupt \.npy file"),
])
def test_every_field_is_checked_before_any_work(tmp_path, monkeypatch, fields, exc, pattern):
    _data(tmp_path)
    np.save(tmp_path / "few.npy", np.zeros((5, 8, 8, 3), np.uint8))
    data = (tmp_path / "l.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 8])
    monkeypatch.setattr(select, "compute_terms", _no_work)
    monkeypatch.setattr(select, "sweep_lambda", _no_work)
    kw = dict(fields)
    paths = {k: str(tmp_path / kw.pop(k, default)) for k, default in
             (("features", "f.npy"), ("labels", "l.npy"), ("out_dir", "out"))}
    if "images" in kw:
        kw["images"] = str(tmp_path / kw["images"])
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(exc, match=pattern):
        select.run(SelectConfig(features=paths["features"], labels=paths["labels"],
                                       workers=kw.pop("workers", 1), **kw), paths["out_dir"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no out/ folder
