"""Deterministic synthetic face identities drawn with OpenCV: the embedded default data of the demo.

The paper trains on UMDFaces (section IV-A) and studies how selective distillation (section III-C, Eq. 3) discards
the faces the teacher cannot handle: "side postures, heavy occlusions, inconsistent illuminations or blurry
appearances" (section IV-B, Fig. 6). No real face data may be downloaded at run time, so the demo uses this
generator, which plants exactly those cases with ground truth:

* An **identity** is a vector of ``len(PARAM_NAMES)`` numbers in ``[0, 1]`` (face shape, jaw, skin tone, hair colour
  and style, eye spacing/size/colour, brows, nose, mouth, lips, beard, moles). It is a pure function of
  ``(seed, identity_offset + k)``, so identity sets generated with disjoint offsets are disjoint populations.
* Cues live at several scales: head shape, skin/hair colours and hair style survive a 16 px crop; brow shape, iris
  colour, moles and lip details do not. Low resolution therefore genuinely removes identity information, which is
  the paper's premise.
* Each **image** adds nuisance: yaw/pitch (features are drawn on a cylinder-like head, so turning the head moves
  and foreshortens them), roll/scale/shift (a similarity warp of the drawing coordinates), expression (smile, open
  mouth, eye openness, brow raise), mild occluders, an illumination gradient with a colour cast, blur and noise.
* A fraction ``noisy_fraction`` of the images is **noisy** in the paper's sense, with the kind recorded in
  ``FaceSet.noise`` (codes in ``NOISE_KINDS``): ``pose`` (extreme yaw of 60-85 degrees plus pitch: far-side features
  collapse onto the silhouette), ``occlusion`` (an opaque object hides 50-70% of the face, including either both
  eyes or the whole lower face), ``wrong_label`` (the face is drawn as another identity B of the same set but
  annotated with label A; ``true_labels`` holds B).

Landmarks follow the project convention (CONTRIBUTING.md): dlib's 5-point order, ``(x, y)`` pixels with pixel
centres at integer coordinates. The face is laid out on dlib's template (``skd_tf.data.align.DLIB_5_TEMPLATE``)
so that ``align_face(image, landmarks, size)`` yields a centred chip; pose warps move the landmarks with the face.

Same arguments, same bytes: every random choice comes from ``np.random.default_rng`` seeded by a tuple that starts
with ``seed``.

Length: over 400 lines because it is one generative model: identities, poses, drawing, occlusion and rendering share
the same face geometry and random streams; split, every part would need the others' private state.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from skd_tf.utils.io import atomic_path

__all__ = [
    "NOISE_KINDS",
    "PARAM_NAMES",
    "FaceSet",
    "generate_faces",
    "split_identities",
    "make_verification_pairs",
    "save_faceset",
    "load_faceset",
]

#: Names of the codes in ``FaceSet.noise``: 0 clean, 1 extreme pose, 2 heavy occlusion, 3 wrong identity label.
NOISE_KINDS: tuple[str, ...] = ("clean", "pose", "occlusion", "wrong_label")

#: The identity parameters (columns of ``FaceSet.identity_params``), each uniform in [0, 1].
PARAM_NAMES: tuple[str, ...] = (
    "face_width", "face_height", "jaw_squareness", "chin_point",
    "skin_tone", "skin_redness",
    "hair_kind", "hair_lightness", "hair_length", "hairline_height", "fringe_slope", "hair_volume",
    "eye_separation", "eye_width", "eye_aspect", "eye_height", "iris_kind", "eye_tilt",
    "brow_thickness", "brow_angle", "brow_arch", "brow_gap",
    "nose_length", "nose_width",
    "mouth_width", "mouth_height", "lip_thickness", "lip_redness",
    "beard", "mole1_x", "mole1_y", "mole2_x", "mole2_y", "moles",
)
_P = {name: i for i, name in enumerate(PARAM_NAMES)}

_HAIR_PALETTE = np.array(
    [[25, 20, 18], [70, 45, 28], [120, 80, 45], [190, 150, 90], [150, 70, 35], [150, 150, 150]], np.float64
)
_IRIS_PALETTE = np.array([[70, 110, 170], [80, 130, 80], [100, 65, 35], [110, 120, 130], [45, 30, 20]], np.float64)

# dlib's 5-point template (unit square), duplicated from skd_tf.data.align so that drawing does not depend on it.
_TEMPLATE = np.array(
    [[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
     [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
     [0.4901123135679, 0.6277975316475]]
)
_EYE_Y = 0.2213  # mean template eye-corner height
_EYE_CX = 0.5 * (_TEMPLATE[0, 0] + _TEMPLATE[1, 0]) - 0.5  # template eye centre offset from the midline (0.2528)
_EYE_W = _TEMPLATE[0, 0] - _TEMPLATE[1, 0]  # template eye width (0.2135)
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 33)[:-1]), np.sin(np.linspace(0, 2 * np.pi, 33)[:-1])], 1)
_HEAD_CY = 0.42  # head ellipse centre (template units); the template spans brows (~0) to chin (~1)


@dataclass(frozen=True, eq=False)
class FaceSet:
    """A set of synthetic faces with ground truth.

    Attributes:
      images: uint8 ``[N, S, S, 3]`` RGB.
      landmarks: float32 ``[N, 5, 2]``, dlib 5-point order, image pixels.
      labels: int64 ``[N]`` annotated labels (wrong for ``wrong_label`` faces).
      true_labels: int64 ``[N]`` the identity actually drawn.
      noise: int8 ``[N]`` codes into ``NOISE_KINDS`` (0 clean, 1 pose, 2 occlusion, 3 wrong_label).
      identity_params: float32 ``[C, P]`` identity vectors, row ``c`` for label ``c``.
      identity_ids: int64 ``[C]`` global identity numbers (``identity_offset + k`` at generation).
    """

    images: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    noise: np.ndarray
    identity_params: np.ndarray
    identity_ids: np.ndarray

    NOISE_KINDS = NOISE_KINDS

    def __post_init__(self):
        n = len(self.images)
        for field in ("landmarks", "labels", "true_labels", "noise"):
            if len(getattr(self, field)) != n:
                raise ValueError(f"FaceSet.{field}: expected {n} rows to match images, got {len(getattr(self, field))}")
        if len(self.identity_ids) != len(self.identity_params):
            raise ValueError("FaceSet.identity_ids: expected one global id per identity_params row")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """Number of identities (rows of ``identity_params``); labels lie in ``0..num_classes-1``."""
        return int(self.identity_params.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def is_clean(self) -> np.ndarray:
        return self.noise == 0

    def subset(self, mask_or_indices) -> "FaceSet":
        """The faces selected by a bool mask ``[N]`` or an index array; labels and identities are kept as they are."""
        idx = np.asarray(mask_or_indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"subset: bool mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        return dataclasses.replace(
            self,
            images=self.images[idx],
            landmarks=self.landmarks[idx],
            labels=self.labels[idx],
            true_labels=self.true_labels[idx],
            noise=self.noise[idx],
        )

    def select_identities(self, ids) -> "FaceSet":
        """Faces whose annotated and true labels are both in `ids`, relabelled to ``0..len(ids)-1`` in `ids` order.

        A wrong-label face annotated with an identity in `ids` but drawn as one outside it is dropped, so two
        disjoint id sets give identity-disjoint face sets.
        """
        ids = np.asarray(ids, dtype=np.int64)
        out_of_range = len(ids) and (ids.min() < 0 or ids.max() >= self.num_classes)
        if ids.ndim != 1 or len(np.unique(ids)) != len(ids) or out_of_range:
            raise ValueError(f"select_identities: ids must be distinct labels in 0..{self.num_classes - 1}")
        remap = np.full(self.num_classes, -1, np.int64)
        remap[ids] = np.arange(len(ids))
        keep = (remap[self.labels] >= 0) & (remap[self.true_labels] >= 0)
        sub = self.subset(keep)
        return dataclasses.replace(
            sub,
            labels=remap[sub.labels],
            true_labels=remap[sub.true_labels],
            identity_params=self.identity_params[ids],
            identity_ids=self.identity_ids[ids],
        )


# ----------------------------------------------------------------------------------------------------------------
# identities


def _identity_vector(seed: int, global_id: int) -> np.ndarray:
    return np.random.default_rng((int(seed), 0, int(global_id))).random(len(PARAM_NAMES))


class _Identity:
    """Decoded geometry and colours of one identity (template units, RGB 0..255)."""

    def __init__(self, q: np.ndarray):
        g = lambda name: float(q[_P[name]])  # noqa: E731
        lerp = lambda a, b, t: a + (b - a) * t  # noqa: E731
        self.face_w = lerp(0.50, 0.62, g("face_width"))  # head half-width
        self.face_h = lerp(0.62, 0.74, g("face_height"))  # head half-height
        self.jaw_exp = lerp(2.0, 3.6, g("jaw_squareness"))  # superellipse exponent of the lower head
        self.chin = lerp(0.0, 0.18, g("chin_point"))
        tone = g("skin_tone")
        light, dark = np.array([245.0, 210, 180]), np.array([95.0, 62, 42])
        skin = lerp(light, dark, tone)
        skin = skin + np.array([1.0, -0.4, -0.6]) * lerp(-18, 18, g("skin_redness"))
        self.skin = np.clip(skin, 0, 255)
        kind = min(int(g("hair_kind") * len(_HAIR_PALETTE)), len(_HAIR_PALETTE) - 1)
        self.hair = np.clip(_HAIR_PALETTE[kind] * lerp(0.75, 1.25, g("hair_lightness")), 0, 255)
        self.hair_length = lerp(-0.2, 0.9, g("hair_length"))  # how far back hair falls below the eyes
        self.hairline = lerp(-0.32, -0.08, g("hairline_height"))
        self.fringe = lerp(-0.22, 0.22, g("fringe_slope"))
        self.hair_volume = lerp(0.02, 0.16, g("hair_volume"))
        self.eye_cx = _EYE_CX * lerp(0.88, 1.12, g("eye_separation"))
        self.eye_w = _EYE_W * lerp(0.82, 1.15, g("eye_width"))
        self.eye_aspect = lerp(0.30, 0.50, g("eye_aspect"))
        self.eye_y = _EYE_Y + lerp(-0.035, 0.035, g("eye_height"))
        kind = min(int(g("iris_kind") * len(_IRIS_PALETTE)), len(_IRIS_PALETTE) - 1)
        self.iris = _IRIS_PALETTE[kind]
        self.eye_tilt = lerp(-0.03, 0.03, g("eye_tilt"))
        self.brow_thick = lerp(0.018, 0.055, g("brow_thickness"))
        self.brow_angle = lerp(-0.06, 0.06, g("brow_angle"))
        self.brow_arch = lerp(-0.01, 0.05, g("brow_arch"))
        self.brow_gap = lerp(0.07, 0.13, g("brow_gap"))
        self.brow_color = self.hair * 0.8
        self.nose_y = _TEMPLATE[4, 1] + lerp(-0.05, 0.05, g("nose_length"))
        self.nose_w = lerp(0.07, 0.13, g("nose_width"))
        self.mouth_w = lerp(0.15, 0.24, g("mouth_width"))
        self.mouth_y = self.nose_y + lerp(0.14, 0.22, g("mouth_height"))
        self.lip = lerp(0.018, 0.045, g("lip_thickness"))
        self.lip_color = np.clip(self.skin * 0.72 + np.array([60.0, 0, 10]) * g("lip_redness"), 0, 255)
        b = g("beard")
        self.beard = 0.0 if b < 0.7 else lerp(0.35, 0.9, (b - 0.7) / 0.3)
        m = g("moles")
        self.moles = []
        if m > 0.45:
            self.moles.append((lerp(0.1, 0.9, g("mole1_x")), lerp(0.35, 0.9, g("mole1_y"))))
        if m > 0.8:
            self.moles.append((lerp(0.1, 0.9, g("mole2_x")), lerp(0.35, 0.9, g("mole2_y"))))

        self.landmarks = self.landmarks_template()
        self.brows = {}
        for side in (1, -1):
            cx = 0.5 + side * self.eye_cx
            by = self.eye_y - self.brow_gap
            bx = np.linspace(cx - 0.62 * self.eye_w, cx + 0.62 * self.eye_w, 7)
            t = (bx - cx) / (0.62 * self.eye_w)
            mid = by - side * self.brow_angle * t - self.brow_arch * (1 - t**2)
            th = self.brow_thick * (1 - 0.35 * (side * t > 0.5))
            self.brows[side] = np.concatenate([np.stack([bx, mid - th / 2], 1), np.stack([bx, mid + th / 2], 1)[::-1]])
        self.static = None  # image-independent drawing, built on first use

    def landmarks_template(self) -> np.ndarray:
        """The 5 dlib points of this identity in (un-posed) template units."""
        pts = np.empty((5, 2))
        tilt = self.eye_tilt
        for side, (outer, inner) in ((1, (0, 1)), (-1, (2, 3))):
            cx = 0.5 + side * self.eye_cx
            pts[outer] = (cx + side * self.eye_w / 2, self.eye_y - tilt)
            pts[inner] = (cx - side * self.eye_w / 2, self.eye_y + tilt)
        pts[4] = (0.5, self.nose_y)
        return pts


# ----------------------------------------------------------------------------------------------------------------
# drawing


class _Pose:
    """Maps template coordinates to image pixels: head rotation on a cylinder, then a similarity warp."""

    def __init__(self, yaw: float, pitch: float, matrix: np.ndarray):
        self.yaw, self.pitch, self.m = yaw, pitch, matrix
        self._sy, self._sp = np.sin(yaw), np.sin(pitch)

    def __call__(self, pts, prot: float = 0.0, turn: bool = True) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        u, v = pts[..., 0], pts[..., 1]
        if turn:
            half = np.pi / 2
            h = np.arcsin(np.minimum(np.maximum((u - 0.5) * (1 / 0.62), -1.0), 1.0)) + self.yaw
            u = 0.5 + 0.62 * (np.sin(np.minimum(np.maximum(h, -half), half)) + prot * self._sy)
            g = np.arcsin(np.minimum(np.maximum((v - _HEAD_CY) * (1 / 1.1), -1.0), 1.0)) + self.pitch
            v = _HEAD_CY + 1.1 * (np.sin(np.minimum(np.maximum(g, -half), half)) + prot * self._sp)
        else:  # silhouette: the head outline stays put, only the vertical tilt shifts it a little
            v = v + 0.3 * self._sp
        m = self.m
        out = np.empty(u.shape + (2,))
        out[..., 0] = m[0, 0] * u + m[0, 1] * v + m[0, 2]
        out[..., 1] = m[1, 0] * u + m[1, 1] * v + m[1, 2]
        return out


_SHIFT = 4
_ONE = 1 << _SHIFT


def _poly(img, polys, color):
    pts = [np.round(np.asarray(p) * _ONE).astype(np.int32).reshape(-1, 1, 2) for p in polys]
    cv2.fillPoly(img, pts, tuple(float(c) for c in color), lineType=cv2.LINE_AA, shift=_SHIFT)


def _ellipse_pts(cx, cy, rx, ry, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    x, y = _CIRCLE[:, 0] * rx, _CIRCLE[:, 1] * ry
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def _head_outline(idn: _Identity) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = idn.face_w * c
    lower = s > 0
    # lower half: superellipse (square jaw) with an optional pointed chin
    e = 2.0 / idn.jaw_exp
    y = np.where(lower, idn.face_h * np.abs(s) ** e, idn.face_h * s * 0.92)
    x = np.where(lower, idn.face_w * np.sign(c) * np.abs(c) ** e, x)
    y = y + np.where(lower, idn.chin * np.exp(-((x / 0.16) ** 2)), 0.0)
    return np.stack([0.5 + x, _HEAD_CY + y], 1)


class _Drawing:
    """Polygons recorded in template units, posed in one vectorised call, then filled in order.

    Each item is ``(polygons, colour, protrusion, turn)``: `protrusion` (scalar or one value per point) is how far
    the points stand out of the head surface (the nose), `turn` is False for silhouettes that keep their place when
    the head turns. An item with colour None is not drawn (the landmarks). ``freeze()`` packs the items into arrays
    so that an identity's image-independent parts are built once and reused for each of its images.
    """

    def __init__(self, frozen=None):
        self.items = []
        self.frozen = frozen

    def add(self, polys, color, prot=0.0, turn=True):
        self.items.append(([np.asarray(p, np.float64) for p in polys], color, prot, turn))

    def freeze(self):
        pts, prots, turns, sizes, meta = [], [], [], [], []
        if self.frozen is not None:
            pts, prots, turns = [self.frozen[0]], [self.frozen[1]], [self.frozen[2]]
            sizes, meta = list(self.frozen[3]), list(self.frozen[4])
        for polys, color, prot, turn in self.items:
            for p in polys:
                pts.append(p)
                prots.append(np.broadcast_to(np.asarray(prot, np.float64), (len(p),)))
                turns.append(np.full(len(p), turn))
                sizes.append(len(p))
            meta.append((len(polys), color))
        return np.concatenate(pts), np.concatenate(prots), np.concatenate(turns), sizes, meta

    def render(self, img: np.ndarray, pose: _Pose) -> list:
        pts, prots, turns, sizes, meta = self.freeze()
        posed = np.where(turns[:, None], pose(pts, prots, True), pose(pts, 0.0, False))
        pieces = np.split(posed, np.cumsum(sizes)[:-1])
        undrawn, k = [], 0
        for count, color in meta:
            mine = pieces[k:k + count]
            k += count
            if color is None:
                undrawn.append(mine)
            else:
                _poly(img, mine, color)
        return undrawn


def _static_face(idn: _Identity):
    """The parts of a face that do not change from image to image (frozen `_Drawing` arrays)."""
    d = _Drawing()
    head = _head_outline(idn)
    # back hair: a rounded shape behind the head, long hair falls below the ears
    hw, top = idn.face_w + idn.hair_volume, _HEAD_CY - idn.face_h * 0.92 - idn.hair_volume
    bottom = idn.eye_y + idn.hair_length
    if bottom > idn.eye_y - 0.05:
        back = np.array([[0.5 - hw, bottom], [0.5 - hw, _HEAD_CY - 0.1], [0.5 - 0.7 * hw, top + 0.08], [0.5, top],
                         [0.5 + 0.7 * hw, top + 0.08], [0.5 + hw, _HEAD_CY - 0.1], [0.5 + hw, bottom]])
        d.add([back], idn.hair, turn=False)
    d.add([head], idn.skin, turn=False)
    # hair cap over the forehead, hairline sloped by the fringe parameter
    cap_top = _ellipse_pts(0.5, _HEAD_CY, hw, idn.face_h * 0.92 + idn.hair_volume)
    cap_top = cap_top[cap_top[:, 1] < _HEAD_CY - 0.02]
    cap_top = cap_top[np.argsort(cap_top[:, 0])]
    xs = np.linspace(0.5 + hw, 0.5 - hw, 9)
    hairline = idn.hairline + idn.fringe * (xs - 0.5) + 0.05 * ((xs - 0.5) / hw) ** 2
    d.add([np.concatenate([cap_top, np.stack([xs, hairline], 1)])], idn.hair, prot=0.05)
    # beard: a band along the jaw in the hair colour
    if idn.beard > 0:
        jaw = head[(head[:, 1] > idn.mouth_y - 0.12)]
        jaw = jaw[np.argsort(jaw[:, 0])]
        inner = np.stack([jaw[::-1, 0] * 0.8 + 0.1, jaw[::-1, 1] * 0.75 + 0.25 * (idn.mouth_y - 0.05)], 1)
        d.add([np.concatenate([jaw, inner])], idn.skin * (1 - idn.beard) + idn.hair * idn.beard)
    # nose: a shaded wedge from the bridge to the base, plus nostrils
    ny, nw = idn.nose_y, idn.nose_w
    wedge = np.array([[0.5 - 0.02, idn.eye_y + 0.05], [0.5 + 0.02, idn.eye_y + 0.05], [0.5 + nw * 0.55, ny - 0.02],
                      [0.5, ny + 0.01], [0.5 - nw * 0.55, ny - 0.02]])
    d.add([wedge], np.clip(idn.skin * 0.82, 0, 255), prot=np.array([0.02, 0.02, 0.1, 0.12, 0.1]))
    d.add([_ellipse_pts(0.5 + s * nw * 0.32, ny - 0.012, nw * 0.17, nw * 0.08) for s in (1, -1)], idn.skin * 0.45, 0.1)
    # moles (fine detail: gone at 16 px)
    if idn.moles:
        d.add([_ellipse_pts(x, y, 0.018, 0.018) for x, y in idn.moles], idn.skin * 0.35)
    return d.freeze()


def _draw_face(img: np.ndarray, idn: _Identity, pose: _Pose, expr: dict) -> np.ndarray:
    """Draws one face onto `img` (uint8, in place); returns its 5 landmarks in pixels."""
    if idn.static is None:
        idn.static = _static_face(idn)
    d = _Drawing(idn.static)
    # eyes: sclera, iris, pupil (openness and gaze from the expression); brows
    openness, brow_raise, gaze = expr["eye_open"], expr["brow_raise"], expr["gaze"]
    sclera, irises, pupils, brows = [], [], [], []
    for side in (1, -1):
        cx = 0.5 + side * idn.eye_cx
        ew, eh = idn.eye_w / 2, idn.eye_w / 2 * idn.eye_aspect * openness
        sclera.append(_ellipse_pts(cx, idn.eye_y, ew, eh, -side * idn.eye_tilt / max(ew, 1e-3)))
        r = min(eh * 0.95, ew * 0.45)
        irises.append(_ellipse_pts(cx + gaze * ew * 0.3, idn.eye_y, r, r))
        pupils.append(_ellipse_pts(cx + gaze * ew * 0.3, idn.eye_y, r * 0.45, r * 0.45))
        brow = idn.brows[side].copy()
        brow[:, 1] -= brow_raise
        brows.append(brow)
    d.add(sclera, (235, 235, 232))
    d.add(irises, idn.iris)
    d.add(pupils, (15, 12, 12))
    d.add(brows, idn.brow_color)
    # mouth: lips bent by the smile, optionally open
    mw, my, smile, gap = idn.mouth_w, idn.mouth_y, expr["smile"], expr["mouth_open"]
    xs = _MOUTH_T * (mw / 2)
    t = _MOUTH_T
    centre = my + smile * (1 - t**2)  # corners higher than the centre when smiling
    upper = np.stack([0.5 + xs, centre - idn.lip * 0.9 * (1 - t**4)], 1)
    lower = np.stack([0.5 + xs, centre + (idn.lip * 1.2 + gap) * (1 - t**2)], 1)
    d.add([np.concatenate([upper, lower[::-1]])], idn.lip_color, 0.04)
    if gap > 0.005:
        inner_top = np.stack([0.5 + 0.8 * xs, centre + 0.003], 1)
        inner_bot = np.stack([0.5 + 0.8 * xs, centre + 0.003 + gap * (1 - t**2)], 1)
        d.add([np.concatenate([inner_top, inner_bot[::-1]])], (60, 20, 25), 0.04)
    # the 5 dlib landmarks (not drawn); the base of the nose stands out of the face
    d.add([idn.landmarks], None, prot=_LANDMARK_PROT)
    return d.render(img, pose)[0][0]


_MOUTH_T = np.linspace(-1.0, 1.0, 11)
_LANDMARK_PROT = np.array([0, 0, 0, 0, 0.12])


def _occlude(img: np.ndarray, pose: _Pose, idn: _Identity, rng: np.random.Generator, heavy: bool) -> None:
    color = rng.uniform(20, 235, 3)
    d = _Drawing()
    if heavy:
        kind = rng.integers(4)
        top = _HEAD_CY - idn.face_h * 0.9
        if kind == 0:  # eyes, brows and nose covered (a big visor / hand)
            box = np.array([[-0.15, top + 0.1], [1.15, top + 0.1],
                            [1.15, idn.nose_y + 0.05], [-0.15, idn.nose_y + 0.05]])
        elif kind == 1:  # everything below the eyes (scarf / mask)
            box = np.array([[-0.15, idn.eye_y + 0.05], [1.15, idn.eye_y + 0.05], [1.15, 1.3], [-0.15, 1.3]])
        elif kind == 2:  # one half of the face plus the eye on the other side
            s = rng.choice([-1.0, 1.0])
            x0 = 0.5 - s * (idn.eye_cx + idn.eye_w)
            box = np.array([[x0, top], [0.5 + s * 1.2, top], [0.5 + s * 1.2, 1.3], [x0, 1.3]])
        else:  # a big blob over the centre of the face
            box = _ellipse_pts(0.5 + rng.uniform(-0.05, 0.05), idn.nose_y - 0.1, 0.55, 0.55, rng.uniform(0, np.pi))
        # stripes give the occluder some texture; they are clipped to the occluder through a mask
        stripes = [np.array([[x, top], [x + 0.05, top], [x + 0.05, 1.3], [x, 1.3]])
                   for x in np.arange(-0.1, 1.1, 0.2) + rng.uniform(0, 0.2)]
        d.add([box], None, turn=False)
        d.add(stripes, None, turn=False)
        box_px, stripes_px = d.render(img, pose)
        mask = np.zeros(img.shape[:2], np.uint8)
        _poly(mask, box_px, (255,))
        _poly(img, box_px, color)
        tex = img.copy()
        _poly(tex, stripes_px, np.clip(color * 0.7, 0, 255))
        np.copyto(img, tex, where=mask[:, :, None] > 0)
    else:  # a small object: a strand of hair, a finger, a sticker
        cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.45, 1.0)
        blob = _ellipse_pts(cx, cy, rng.uniform(0.04, 0.09), rng.uniform(0.04, 0.12), rng.uniform(0, np.pi))
        d.add([blob], color)
        d.render(img, pose)


class _Renderer:
    """Per-size constants: coordinate grids and a bank of pixel noise (drawn once per call from the seed)."""

    def __init__(self, size: int, seed: int):
        self.size = size
        lin = np.linspace(-1.0, 1.0, size, dtype=np.float32)
        self.gx, self.gy = np.meshgrid(lin, lin)
        self.noise_bank = np.random.default_rng((int(seed), 3, size)).standard_normal((2 * size, 2 * size, 3),
                                                                                      np.float32)

    def base_matrix(self, rng: np.random.Generator, extreme: bool) -> np.ndarray:
        s = self.size
        scale = 0.50 * s * rng.uniform(0.9, 1.1)  # template unit square -> pixels (face ~half the image)
        roll = np.deg2rad(rng.uniform(-10, 10) if not extreme else rng.uniform(-25, 25))
        c, si = np.cos(roll) * scale, np.sin(roll) * scale
        tx, ty = s * 0.5 + rng.uniform(-0.04, 0.04) * s, s * 0.52 + rng.uniform(-0.04, 0.04) * s
        # template point (0.5, 0.5) lands at (tx, ty)
        return np.array([[c, -si, tx - (c * 0.5 - si * 0.5)], [si, c, ty - (si * 0.5 + c * 0.5)]])

    def render(self, idn: _Identity, rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.size
        extreme = kind == 1
        if extreme:
            yaw = np.deg2rad(rng.uniform(60, 85)) * rng.choice([-1.0, 1.0])
            pitch = np.deg2rad(rng.uniform(-30, 30))
        else:
            yaw, pitch = np.deg2rad(rng.uniform(-18, 18)), np.deg2rad(rng.uniform(-10, 10))
        pose = _Pose(yaw, pitch, self.base_matrix(rng, extreme))
        expr = {
            "eye_open": rng.uniform(0.55, 1.15),
            "brow_raise": rng.uniform(-0.01, 0.03),
            "gaze": rng.uniform(-1, 1),
            "smile": rng.uniform(-0.01, 0.035),
            "mouth_open": rng.uniform(0.0, 0.05) if rng.random() < 0.3 else 0.0,
        }
        bg = rng.uniform(30, 225, 3)
        img = np.empty((s, s, 3), np.uint8)
        img[:] = np.round(bg).astype(np.uint8)
        lm = _draw_face(img, idn, pose, expr)
        if kind == 2:
            _occlude(img, pose, idn, rng, heavy=True)
        elif rng.random() < 0.15:
            _occlude(img, pose, idn, rng, heavy=False)
        sigma = rng.uniform(0.0, 1.2) * s / 160.0
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        # illumination gradient with a colour cast, then noise
        ang = rng.uniform(0, 2 * np.pi)
        strength = rng.uniform(0.0, 0.35)
        base = rng.uniform(0.8, 1.15)
        gain = cv2.addWeighted(self.gx, strength * np.cos(ang), self.gy, strength * np.sin(ang), base)
        cast = rng.uniform(0.9, 1.1, 3)
        oy, ox = rng.integers(0, s, 2)
        amp = rng.uniform(0.0, 6.0)
        out = img.astype(np.float32)
        cv2.multiply(out, cv2.merge([gain * np.float32(c) for c in cast]), dst=out)
        cv2.scaleAdd(self.noise_bank[oy:oy + s, ox:ox + s], amp, out, dst=out)
        cv2.max(out, 0.0, dst=out)
        return cv2.convertScaleAbs(out), lm.astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# public API


def generate_faces(
    num_identities: int,
    images_per_identity: int,
    *,
    image_size: int = 160,
    noisy_fraction: float = 0.1,
    noise_kinds: Sequence[str] = ("pose", "occlusion", "wrong_label"),
    seed: int = 0,
    identity_offset: int = 0,
) -> FaceSet:
    """Draws ``num_identities * images_per_identity`` faces, grouped by identity (label ``k`` for rows
    ``k*images_per_identity .. (k+1)*images_per_identity-1``).

    Exactly ``round(noisy_fraction * N)`` images are noisy, their kinds spread evenly over `noise_kinds` and placed
    at random. Identity ``k`` of the set is global identity ``identity_offset + k`` (its parameters depend only on
    ``(seed, identity_offset + k)``). Deterministic: same arguments, same bytes.
    """
    c, k, image_size = int(num_identities), int(images_per_identity), int(image_size)
    if c < 1 or k < 1:
        raise ValueError(f"num_identities and images_per_identity must be >= 1, "
                         f"got {num_identities}, {images_per_identity}")
    if int(image_size) < 32:
        raise ValueError(f"image_size must be >= 32 pixels, got {image_size}")
    if not 0.0 <= float(noisy_fraction) <= 1.0:
        raise ValueError(f"noisy_fraction must lie in [0, 1], got {noisy_fraction}")
    kinds = tuple(noise_kinds)
    bad = [x for x in kinds if x not in NOISE_KINDS[1:]]
    if bad or (noisy_fraction > 0 and not kinds):
        raise ValueError(f"noise_kinds: expected a non-empty subset of {NOISE_KINDS[1:]}, got {kinds}")
    n = c * k
    offset = int(identity_offset)
    params = np.stack([_identity_vector(seed, offset + i) for i in range(c)]).astype(np.float32)
    idents = [_Identity(p.astype(np.float64)) for p in params]

    labels = np.repeat(np.arange(c, dtype=np.int64), k)
    true_labels = labels.copy()
    noise = np.zeros(n, np.int8)
    n_noisy = int(round(float(noisy_fraction) * n))
    grng = np.random.default_rng((int(seed), 2, offset, c, k))
    if n_noisy:
        where = grng.choice(n, size=n_noisy, replace=False)
        codes = np.array([NOISE_KINDS.index(x) for x in kinds], np.int8)
        noise[where] = grng.permutation(np.resize(codes, n_noisy))
        wrong = np.flatnonzero(noise == 3)
        if len(wrong) and c < 2:
            raise ValueError("noise_kinds: 'wrong_label' faces need num_identities >= 2 (or drop 'wrong_label')")
        shift = grng.integers(1, c, size=len(wrong)) if len(wrong) else np.zeros(0, np.int64)
        true_labels[wrong] = (labels[wrong] + shift) % c

    renderer = _Renderer(int(image_size), seed)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    landmarks = np.empty((n, 5, 2), np.float32)
    for i in range(n):
        rng = np.random.default_rng((int(seed), 1, offset + int(labels[i]), i % k))
        kind = int(noise[i])
        images[i], landmarks[i] = renderer.render(idents[true_labels[i]], rng, kind if kind in (1, 2) else 0)
    return FaceSet(
        images=images,
        landmarks=landmarks,
        labels=labels,
        true_labels=true_labels,
        noise=noise,
        identity_params=params,
        identity_ids=np.arange(offset, offset + c, dtype=np.int64),
    )


def split_identities(num_identities: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random identity-disjoint split: sorted int64 arrays ``(train_ids, test_ids)`` covering ``0..C-1``.

    At least one identity goes to each side when ``0 < test_fraction < 1`` and ``num_identities >= 2``.
    """
    c = int(num_identities)
    if c < 1:
        raise ValueError(f"num_identities must be >= 1, got {num_identities}")
    if not 0.0 <= float(test_fraction) <= 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1], got {test_fraction}")
    n_test = int(round(float(test_fraction) * c))
    if 0 < test_fraction < 1 and c >= 2:
        n_test = min(max(n_test, 1), c - 1)
    perm = np.random.default_rng((int(seed), 4, c)).permutation(c)
    return np.sort(perm[n_test:]).astype(np.int64), np.sort(perm[:n_test]).astype(np.int64)


def make_verification_pairs(faceset: FaceSet, num_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Verification pairs over the clean faces: ``(idx_a, idx_b, is_same)`` indices into `faceset`.

    Half the pairs (rounded down) are same-identity and the rest different-identity, judged by ``true_labels``.
    Pairs are distinct (unordered) when enough exist; order is shuffled.
    """
    num_pairs = int(num_pairs)
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be >= 1, got {num_pairs}")
    clean = np.flatnonzero(faceset.noise == 0)
    lab = faceset.true_labels[clean]
    ids, counts = np.unique(lab, return_counts=True)
    if len(ids) < 2:
        raise ValueError(f"make_verification_pairs: need clean faces of >= 2 identities, found {len(ids)}")
    n_same = num_pairs // 2
    n_diff = num_pairs - n_same
    multi = ids[counts >= 2]
    if n_same and not len(multi):
        raise ValueError("make_verification_pairs: no identity has two clean faces for same-identity pairs")
    rng = np.random.default_rng((int(seed), 5, len(faceset)))
    by_id = {int(i): clean[lab == i] for i in ids}
    pairs, seen = [], set()

    def draw(same: bool, want: int):
        got, tries = 0, 0
        while got < want:
            tries += 1
            if same:
                members = by_id[int(rng.choice(multi))]
                a, b = rng.choice(members, 2, replace=False)
            else:
                ia, ib = rng.choice(ids, 2, replace=False)
                a, b = rng.choice(by_id[int(ia)]), rng.choice(by_id[int(ib)])
            key = (min(a, b), max(a, b))
            if key in seen and tries < 50 * want:
                continue
            seen.add(key)
            pairs.append((int(a), int(b), same))
            got += 1

    draw(True, n_same)
    draw(False, n_diff)
    order = rng.permutation(len(pairs))
    arr = np.array(pairs, dtype=np.int64)[order]
    return arr[:, 0], arr[:, 1], arr[:, 2].astype(bool)


def save_faceset(faceset: FaceSet, path: str | os.PathLike) -> None:
    """Saves `faceset` as an uncompressed ``.npz`` at `path`, atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            **{f.name: getattr(faceset, f.name) for f in dataclasses.fields(faceset)},
            noise_kinds=np.array(NOISE_KINDS),
            param_names=np.array(PARAM_NAMES),
        )


def load_faceset(path: str | os.PathLike) -> FaceSet:
    """Loads a face set written by ``save_faceset``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"face set file not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        names = [f.name for f in dataclasses.fields(FaceSet)]
        missing = [n for n in names if n not in z.files]
        if missing:
            raise ValueError(f"{path}: not a saved FaceSet, missing fields {missing}")
        if "noise_kinds" in z.files and tuple(z["noise_kinds"].tolist()) != NOISE_KINDS:
            raise ValueError(f"{path}: field noise_kinds is {z['noise_kinds'].tolist()}, expected {list(NOISE_KINDS)}")
        return FaceSet(**{n: z[n] for n in names})
