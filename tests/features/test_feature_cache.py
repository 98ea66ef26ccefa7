"""The sharded teacher-feature cache: kill/resume gives identical bytes; foreign and corrupt caches are refused."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from skd_tf.features import cache as C
from skd_tf.features.extract import AlignedArraySource, ArraySource, extract_to_cache

SIZE, DIM, N = 16, 8, 45

MODEL_CODE = textwrap.dedent("""
    import keras
    import numpy as np

    def tiny_model(size, dim):
        init = keras.initializers.GlorotUniform
        inp = keras.Input((size, size, 3))
        x = keras.layers.Rescaling(1 / 255.0)(inp)
        x = keras.layers.Conv2D(4, 3, kernel_initializer=init(seed=1), bias_initializer="zeros")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(dim, kernel_initializer=init(seed=2), name="embedding")(x)
        return keras.Model(inp, out)

    def tiny_images(n, size):
        return np.random.default_rng(0).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
""")
_ns: dict = {}
exec(MODEL_CODE, _ns)
tiny_model, tiny_images = _ns["tiny_model"], _ns["tiny_images"]

MANIFEST = {"teacher": "tiny", "layer": "embedding"}


@pytest.fixture(scope="module")
def model():
    return tiny_model(SIZE, DIM)


@pytest.fixture(scope="module")
def images():
    return tiny_images(N, SIZE)


def _run(model, source, out, **kw):
    kw.setdefault("manifest", MANIFEST)
    return extract_to_cache(model, source, out, shard_size=8, batch_size=3, progress=False, **kw)


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model, images):
    out = tmp_path_factory.mktemp("ref") / "cache"
    stats = _run(model, ArraySource(images), out)
    assert stats["computed_shards"] == 6 and stats["faces_computed"] == N
    return out


class _Killed(Exception):
    pass


def test_uninterrupted_cache_contents(reference, model, images):
    manifest = C.load_manifest(reference)
    assert manifest["complete"] and manifest["count"] == N and manifest["num_shards"] == 6
    assert (manifest["teacher"], manifest["layer"], manifest["feature_dim"], manifest["dtype"]) == \
        ("tiny", "embedding", DIM, "float32")
    assert manifest["source"]["kind"] == "array" and len(manifest["source_fingerprint"]) == 64
    assert [s["rows"] for s in manifest["shards"]] == [8, 8, 8, 8, 8, 5]
    feats, ids = C.load_features(reference)
    np.testing.assert_array_equal(ids, np.arange(N))
    want = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
    mm_feats, mm_ids = C.load_features(reference, mmap=True)
    np.testing.assert_array_equal(mm_feats, feats) and np.testing.assert_array_equal(mm_ids, ids)
    # A complete cache is not recomputed.
    again = _run(model, ArraySource(images), reference)
    assert (again["computed_shards"], again["skipped_shards"]) == (0, 6)


def test_kill_and_resume_gives_identical_cache(tmp_path, reference, model, images):
    out = tmp_path / "cache"

    def kill_after_shard_2(k):
        if k == 2:
            raise _Killed

    with pytest.raises(_Killed):
        _run(model, ArraySource(images), out, on_shard_done=kill_after_shard_2)
    assert sorted(p.name for p in out.glob("shard-*")) == ["shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]
    assert not C.load_manifest(out)["complete"]
    with pytest.raises(C.CacheError, match="incomplete"):
        C.load_features(out)
    (out / ".shard-00003.npz.x1y2.tmp.npz").write_bytes(b"half a shard")  # what a SIGKILL mid-write leaves
    stats = _run(model, ArraySource(images), out)
    assert (stats["skipped_shards"], stats["computed_shards"], stats["faces_computed"]) == (3, 3, N - 24)
    assert _files(out) == _files(reference)


def test_sigkilled_subprocess_resumes_to_identical_cache(tmp_path, reference, model, images):
    out = tmp_path / "cache"
    script = MODEL_CODE + textwrap.dedent(f"""
        import os, signal
        from skd_tf.features.extract import ArraySource, extract_to_cache

        def die(k):
            if k == 3:
                os.kill(os.getpid(), signal.SIGKILL)

        extract_to_cache(tiny_model({SIZE}, {DIM}), ArraySource(tiny_images({N}, {SIZE})), {str(out)!r},
                         manifest={MANIFEST!r}, shard_size=8, batch_size=3, progress=False, on_shard_done=die)
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(list(out.glob("shard-*.npz"))) == 4
    stats = _run(model, ArraySource(images), out)
    assert (stats["skipped_shards"], stats["computed_shards"]) == (4, 2)
    assert _files(out) == _files(reference)


def test_row_ids_are_returned_sorted(tmp_path, model, images):
    row_ids = np.random.default_rng(1).permutation(N) * 10 + 7
    out = tmp_path / "cache"
    _run(model, ArraySource(images, row_ids=row_ids), out)
    feats, ids = C.load_features(out)
    order = np.argsort(row_ids)
    np.testing.assert_array_equal(ids, row_ids[order])
    np.testing.assert_allclose(feats, model.predict(images[order].astype(np.float32), verbose=0), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="unique"):
        ArraySource(images, row_ids=np.zeros(N, int))


def test_foreign_and_mismatched_caches_are_refused(tmp_path, reference, model, images):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(C.CacheError, match="foreign directory"):
        _run(model, ArraySource(images), foreign)
    with pytest.raises(C.CacheError, match="no feature-cache manifest"):
        C.load_features(foreign)
    other = images.copy()
    other[0, 0, 0, 0] ^= 1
    with pytest.raises(C.CacheError, match="source_fingerprint: cache has"):
        _run(model, ArraySource(other), reference)
    with pytest.raises(C.CacheError, match="teacher: cache has \"tiny\", this run wants \"other\""):
        _run(model, ArraySource(images), reference, manifest={"teacher": "other", "layer": "embedding"})
    with pytest.raises(C.CacheError, match="shard_size"):
        extract_to_cache(model, ArraySource(images), reference, manifest=MANIFEST, shard_size=16, progress=False)
    bad = tmp_path / "bad_manifest"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(C.CacheError, match="not a skd-tf feature cache"):
        C.load_features(bad)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name, data in _files(src).items():
        (dst / name).write_bytes(data)
    return dst


def test_corrupt_shards_are_detected(tmp_path, reference, model, images):
    truncated = _copy(reference, tmp_path / "truncated")
    shard = truncated / "shard-00002.npz"
    shard.write_bytes(shard.read_bytes()[:150])
    with pytest.raises(C.CacheError, match="shard-00002.npz: unreadable shard"):
        C.load_features(truncated)
    with pytest.raises(C.CacheError, match="shard-00002.npz"):
        _run(model, ArraySource(images), truncated)
    flipped = _copy(reference, tmp_path / "flipped")
    shard = flipped / "shard-00001.npz"
    data = bytearray(shard.read_bytes())
    z = C.read_shard(reference / "shard-00001.npz")[0]
    pos = bytes(data).find(np.ascontiguousarray(z).tobytes()[:16])
    data[pos + 5] ^= 0xFF  # one byte inside the features
    shard.write_bytes(bytes(data))
    with pytest.raises(C.CacheError, match="shard-00001.npz: unreadable shard .*Bad CRC"):  # zip CRC catches it
        C.load_features(flipped)
    with pytest.raises(C.CacheError, match="shard-00001.npz: checksum mismatch"):  # memory-mapped: our checksum
        C.load_features(flipped, mmap=True)
    # A well-formed zip whose features no longer match the stored checksum.
    feats, ids = C.read_shard(reference / "shard-00003.npz")
    stale = _copy(reference, tmp_path / "stale")
    np.savez(stale / "shard-00003.npz", features=feats + 1, row_ids=ids,
             checksum=np.asarray(C.array_checksum(feats, ids)))
    with pytest.raises(C.CacheError, match="shard-00003.npz: checksum mismatch"):
        C.load_features(stale)
    missing = _copy(reference, tmp_path / "missing")
    (missing / "shard-00004.npz").unlink()
    with pytest.raises(C.CacheError, match="shard-00004.npz: shard missing"):
        C.load_features(missing)


def test_aligned_source_and_callable_model(tmp_path):
    from skd_tf.data.synthetic import generate_faces

    faces = generate_faces(3, 2, image_size=64, noisy_fraction=0.0, seed=0)
    source = AlignedArraySource(faces.images, faces.landmarks, SIZE, padding=0.25)
    assert source.load(np.arange(2)).shape == (2, SIZE, SIZE, 3)

    def mean_rgb(batch):  # any callable works; the feature dim is probed
        return np.asarray(batch, np.float32).mean(axis=(1, 2))

    out = tmp_path / "cache"
    stats = extract_to_cache(mean_rgb, source, out, manifest={"teacher": "mean", "layer": "rgb"}, shard_size=4,
                             batch_size=4, progress=False)
    assert stats["num_shards"] == 2
    feats, ids = C.load_features(out)
    np.testing.assert_allclose(feats, mean_rgb(source.load(np.arange(6))), rtol=1e-6)
    assert C.load_manifest(out)["feature_dim"] == 3


def test_image_loading_errors_name_the_file(tmp_path, model):
    class Broken(ArraySource):
        def load(self, positions):
            raise ValueError("/data/x/img_0003.jpg: not a readable image")

    with pytest.raises(ValueError, match=r"shard 0 failed: ValueError: /data/x/img_0003.jpg: not a readable image"):
        _run(model, Broken(np.zeros((4, SIZE, SIZE, 3), np.uint8)), tmp_path / "cache")
