"""A vector-drawn cartoon face, rendered with numpy for a whole batch of frames at once.

Coordinates are normalised face units: the 112-pixel aligned crop spans [-1, 1] on both axes, y grows downwards.
Every shape is a signed distance turned into a soft (anti-aliased) coverage, so continuous latents (valence,
eye opening) change the pixels continuously. Which latent moves which part:

- valence: the bend of the lip line (corners up for positive valence), continuously;
- the 12 AUs, each its own deformation: AU1 inner brow up, AU2 outer brow up, AU4 brows down and together with
  a furrow, AU6 cheeks raised (blush, lower lid up), AU7 lids tightened, AU10 upper lip up (teeth, nasolabial
  fold), AU12 lip corners up and out, AU15 lip corners down, AU23 lips thinner and narrower, AU24 lips pressed
  (thinner, bulging skin around them), AU25 lips parted, AU26 jaw dropped (mouth open, chin lower);
- arousal: faint activation cues: eyes opened wider, brows raised (and, outside the renderer, more blinks and
  head movement);
- nuisance: identity, blinks, gaze, residual misalignment, lighting, pixel noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.data.synthetic.params import SynthParams
from abaw.tasks import AU_NAMES, FACE_CROP_SIZE

# Palettes (RGB in [0, 1]): skin tones from light to dark, hair, iris and backdrop colours.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.92, 0.74, 0.60], [0.82, 0.62, 0.47],
    [0.68, 0.49, 0.35], [0.50, 0.34, 0.23], [0.36, 0.24, 0.16],
])
HAIR_COLOURS = np.array([
    [0.07, 0.06, 0.05], [0.24, 0.15, 0.09], [0.45, 0.30, 0.17],
    [0.78, 0.64, 0.38], [0.62, 0.61, 0.60], [0.52, 0.22, 0.10],
])
IRIS_COLOURS = np.array([[0.30, 0.18, 0.09], [0.25, 0.40, 0.60], [0.30, 0.45, 0.30], [0.12, 0.08, 0.06]])
SCLERA = np.array([0.94, 0.93, 0.90])
LASH = np.array([0.10, 0.08, 0.07])
TEETH = np.array([0.95, 0.93, 0.87])
MOUTH_INSIDE = np.array([0.28, 0.07, 0.08])

AU = {name: k for k, name in enumerate(AU_NAMES)}


@dataclass(frozen=True)
class Identity:
    """What makes one person look like themselves (all in face units / RGB)."""

    face_rx: float
    face_ry: float
    face_cy: float
    skin: np.ndarray
    hair: np.ndarray
    brow: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    hairline: float
    eye_dx: float
    eye_y: float
    eye_w: float
    eye_open: float
    brow_gap: float
    brow_thick: float
    brow_len: float
    brow_arch: float
    nose_y: float
    mouth_y: float
    mouth_w: float
    lip_upper: float
    lip_lower: float
    backdrop: np.ndarray  # (2, 3): colours at the top and the bottom of the crop's background


def random_identity(rng: np.random.Generator) -> Identity:
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.95, 1.05, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    eye_y = rng.uniform(-0.2, -0.1)
    nose_y = eye_y + rng.uniform(0.33, 0.4)
    return Identity(
        face_rx=rng.uniform(0.58, 0.7), face_ry=rng.uniform(0.76, 0.86), face_cy=rng.uniform(0.0, 0.08),
        skin=np.clip(skin, 0, 1), hair=hair, brow=0.7 * hair + 0.3 * np.array([0.1, 0.07, 0.05]),
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))],
        lips=np.clip(skin * np.array([0.85, 0.55, 0.55]) + rng.uniform(-0.03, 0.03, 3), 0, 1),
        hairline=rng.uniform(-0.62, -0.48),
        eye_dx=rng.uniform(0.24, 0.31), eye_y=eye_y, eye_w=rng.uniform(0.1, 0.13),
        eye_open=rng.uniform(0.045, 0.068),  # +-20% around the mean: identity varies more than arousal moves it
        brow_gap=rng.uniform(0.13, 0.17), brow_thick=rng.uniform(0.03, 0.05), brow_len=rng.uniform(0.14, 0.17),
        brow_arch=rng.uniform(0.01, 0.04),
        nose_y=nose_y, mouth_y=nose_y + rng.uniform(0.16, 0.22), mouth_w=rng.uniform(0.22, 0.29),
        lip_upper=rng.uniform(0.03, 0.045), lip_lower=rng.uniform(0.035, 0.055),
        backdrop=rng.uniform(0.15, 0.85, (2, 3)),
    )


@dataclass
class FaceState:
    """Per-frame inputs of the renderer, each with a leading batch dimension B."""

    valence: np.ndarray  # (B,)
    arousal: np.ndarray  # (B,)
    aus: np.ndarray  # (B, 12) 0/1
    blink: np.ndarray  # (B,) 1 open .. ~0.1 closed
    gaze: np.ndarray  # (B, 2) iris offset, in eye widths
    jitter: np.ndarray  # (B, 4) dx, dy, roll (rad), log-scale
    light: np.ndarray  # (B, 3) brightness, x gradient, y gradient


def _edge(sd: np.ndarray, px: float) -> np.ndarray:
    """Coverage of a pixel by a shape with signed distance ``sd`` (negative inside), anti-aliased over one pixel."""
    return np.clip(0.5 - sd / px, 0.0, 1.0)


def _paint(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Blends ``colour`` over the planar image ``img`` (3, B, h, w) with coverage ``alpha`` (B, h, w)."""
    for channel, value in zip(img, np.asarray(colour, dtype=np.float32)):
        channel += alpha * (value - channel)


def _col(x: np.ndarray) -> np.ndarray:
    """(B,) -> (B, 1, 1), to broadcast a per-frame value over an image."""
    return np.asarray(x, dtype=np.float32)[:, None, None]


class FaceRenderer:
    """Renders batches of aligned face crops; precomputes the pixel grid once."""

    # The crop shows the face a little larger than the [-1, 1] box, as aligned crops cut through hair and chin.
    zoom = 1.15

    def __init__(self, params: SynthParams, size: int = FACE_CROP_SIZE):
        self.p = params
        self.size = size
        grid = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
        self.gx = grid[None, None, :]
        self.gy = grid[None, :, None]
        self.px = 2.0 / size / self.zoom

    def _pixels(self, lo: float, hi: float) -> slice:
        """Pixel rows (or columns) that show face units [lo, hi] of an unjittered crop."""
        first, last = ((y * self.zoom + 1) * self.size / 2 for y in (lo, hi))
        return slice(max(0, int(first)), min(self.size, int(np.ceil(last))))

    def render(self, ident: Identity, st: FaceState, rng: np.random.Generator, noise_std: float
               ) -> tuple[np.ndarray, np.ndarray]:
        """Returns the crops (B, size, size, 3) uint8 and the head's coverage (B, size, size) float32 in [0, 1]."""
        B, S = len(st.valence), self.size
        dx, dy, roll, log_scale = (_col(c) for c in st.jitter.T)
        scale = np.exp(log_scale)
        cos, sin = np.cos(roll) / (scale * self.zoom), np.sin(roll) / (scale * self.zoom)
        # Face coordinates of every pixel: the inverse of the frame's small misalignment.
        u = cos * (self.gx - dx) + sin * (self.gy - dy)
        w = cos * (self.gy - dy) - sin * (self.gx - dx)
        px = self.px
        aus = {name: _col(st.aus[:, k]) for name, k in AU.items()}

        # Planar (3, B, S, S) float image: per-channel blends over contiguous planes are what keeps numpy fast.
        top, bottom = (c[:, None, None] for c in ident.backdrop)
        backdrop = (top + (self.gy[0] + 1) / 2 * (bottom - top)).astype(np.float32)  # (3, S, 1)
        img = np.broadcast_to(backdrop[:, None], (3, B, S, S)).copy()

        # Neck, hair behind the head, the face (its lower half longer when the jaw drops: AU26), the fringe.
        neck = _edge(np.maximum(np.abs(u) - 0.45 * ident.face_rx, ident.face_cy + 0.5 - w), px)
        _paint(img, neck, 0.82 * ident.skin)
        hair_back = _edge(np.maximum(
            (np.sqrt((u / (ident.face_rx + 0.1)) ** 2 + ((w - ident.face_cy + 0.1) / (ident.face_ry + 0.04)) ** 2) - 1)
            * (ident.face_rx + 0.1), w - ident.face_cy - 0.3), px)
        _paint(img, hair_back, ident.hair)
        ry = np.where(w > ident.face_cy, ident.face_ry + 0.07 * aus["AU26"], ident.face_ry)
        face = _edge((np.sqrt((u / ident.face_rx) ** 2 + ((w - ident.face_cy) / ry) ** 2) - 1) * ident.face_rx, px)
        _paint(img, face, ident.skin)
        _paint(img, face * _edge(w - ident.hairline - 0.25 * u**2, px), ident.hair)
        coverage = np.maximum(np.maximum(neck, hair_back), face)

        top = ident.eye_y - ident.brow_gap
        for side in (-1.0, 1.0):
            ex = side * ident.eye_dx
            self._eye(*self._region(img, u, w, (top - 0.3, ident.eye_y + 0.4), (ex - 0.32, ex + 0.32)),
                      side, ident, st, aus)
        self._furrow(*self._region(img, u, w, (top - 0.2, top + 0.2), (-0.15, 0.15)), ident, aus)
        self._mouth(*self._region(img, u, w, (ident.nose_y - 0.1, ident.mouth_y + 0.35),
                                  (-ident.mouth_w - 0.25, ident.mouth_w + 0.25)), ident, st, aus)

        brightness, grad_x, grad_y = (_col(c) for c in st.light.T)
        img *= 255 * brightness * (1 + grad_x * self.gx + grad_y * self.gy)
        # Sensor noise: windows at random offsets of one noise field, far cheaper than fresh noise per frame.
        field = rng.standard_normal((3, 2 * S, 2 * S), dtype=np.float32) * noise_std
        for b, (oy, ox) in enumerate(rng.integers(0, S, (B, 2))):
            img[:, b] += field[:, oy : oy + S, ox : ox + S]
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb.transpose(1, 2, 3, 0)), coverage

    def _region(self, img, u, w, ys: tuple[float, float], xs: tuple[float, float]):
        """Views of the image and coordinates on the pixels around face-unit box ``ys`` x ``xs`` (with margin)."""
        rows, cols = self._pixels(*ys), self._pixels(*xs)
        return img[:, :, rows, cols], u[:, rows, cols], w[:, rows, cols]

    def _eye(self, img, u, w, side: float, ident: Identity, st: FaceState, aus: dict) -> None:
        """One eye, its lids, cheek and brow; ``side`` -1 is the eye on the left of the image."""
        px, p = self.px, self.p
        blink = _col(st.blink)
        # Upper lid: identity opening, slightly wider with arousal, closed by blinks, lowered by AU7 (lid tightener).
        h_up = ident.eye_open * (1 + p.eye_arousal_gain * _col(st.arousal)) * blink * (1 - 0.45 * aus["AU7"])
        # Lower lid: pushed up by AU6 (cheek raiser) and AU7.
        h_lo = 0.6 * ident.eye_open * blink * (1 - 0.5 * aus["AU6"]) * (1 - 0.35 * aus["AU7"])
        ex = side * ident.eye_dx
        uu, ww = u - ex, w - ident.eye_y
        r = np.sqrt(np.clip(1 - (uu / ident.eye_w) ** 2, 0, 1))
        eye = _edge(np.maximum(np.maximum(-h_up * r - ww, ww - h_lo * r), np.abs(uu) - ident.eye_w), px)
        _paint(img, eye, SCLERA)
        ri = 0.45 * ident.eye_w
        iris_d = np.sqrt((uu - _col(st.gaze[:, 0]) * ident.eye_w) ** 2 + (ww - _col(st.gaze[:, 1]) * ident.eye_w) ** 2)
        _paint(img, eye * _edge(iris_d - ri, px), ident.iris)
        _paint(img, eye * _edge(iris_d - 0.45 * ri, px), LASH)
        lid = _edge(np.maximum(np.abs(ww + h_up * r) - 0.012, np.abs(uu) - 1.05 * ident.eye_w), px)
        _paint(img, lid, LASH)
        # AU6: raised cheek (a flush under the eye) and the bulge line of the raised lower lid.
        cheek = _edge((np.sqrt(((uu - side * 0.05) / 0.13) ** 2 + ((ww - 0.21) / 0.06) ** 2) - 1) * 0.06, px)
        _paint(img, 0.5 * aus["AU6"] * cheek, ident.skin * np.array([0.95, 0.7, 0.68]))
        bag = _edge(np.maximum(np.abs(ww - h_lo * r - 0.04) - 0.008, np.abs(uu) - 0.9 * ident.eye_w), px)
        _paint(img, 0.6 * aus["AU6"] * bag, 0.6 * ident.skin)
        # Brow. q runs from -1 (outer end) to +1 (inner end). AU1 lifts the inner end, AU2 the outer end,
        # AU4 lowers the brow, pulls it toward the midline and tilts its inner end down.
        q = (u - ex + side * 0.04 * aus["AU4"]) * -side / ident.brow_len
        raise_ = 0.09 * aus["AU1"] * (1 + q) / 2 + 0.08 * aus["AU2"] * (1 - q) / 2
        lower = 0.05 * aus["AU4"] + 0.03 * aus["AU4"] * (1 + q) / 2
        raise_ = raise_ + p.brow_arousal_raise * _col(st.arousal)
        yb = ident.eye_y - ident.brow_gap - ident.brow_arch * (1 - q**2) - raise_ + lower
        brow = _edge(np.maximum(np.abs(w - yb) - ident.brow_thick / 2 * (1 - 0.3 * q**2),
                                (np.abs(q) - 1) * ident.brow_len), px)
        _paint(img, brow, ident.brow)

    def _furrow(self, img, u, w, ident: Identity, aus: dict) -> None:
        """AU4: vertical furrows between the brows."""
        furrow_y = ident.eye_y - ident.brow_gap + 0.02
        furrow = _edge(np.maximum(np.abs(np.abs(u) - 0.035) - 0.008, np.abs(w - furrow_y) - 0.05), self.px)
        _paint(img, 0.6 * aus["AU4"] * furrow, 0.6 * ident.skin)

    def _mouth(self, img, u, w, ident: Identity, st: FaceState, aus: dict) -> None:
        px, p = self.px, self.p
        # Nostrils, and the nasolabial folds that AU10 deepens.
        nostrils = _edge((np.sqrt(((np.abs(u) - 0.055) / 0.03) ** 2 + ((w - ident.nose_y) / 0.014) ** 2) - 1) * 0.014,
                         px)
        _paint(img, nostrils, 0.45 * ident.skin)
        mx, my = ident.mouth_w + 0.04, ident.mouth_y
        au = np.abs(u)
        t = np.clip(((au - 0.1) * (mx - 0.1) + (w - ident.nose_y) * (my - ident.nose_y))
                    / ((mx - 0.1) ** 2 + (my - ident.nose_y) ** 2), 0, 1)
        fold_d = np.sqrt((au - 0.1 - t * (mx - 0.1)) ** 2 + (w - ident.nose_y - t * (my - ident.nose_y)) ** 2)
        _paint(img, (0.12 + 0.55 * aus["AU10"]) * _edge(fold_d - 0.008, px), 0.65 * ident.skin)

        my = ident.mouth_y + 0.035 * aus["AU26"]
        mw = ident.mouth_w * (1 + 0.12 * aus["AU12"] - 0.15 * aus["AU23"] - 0.06 * aus["AU24"])
        s = u / mw
        r = np.sqrt(np.clip(1 - s**2, 0, 1))
        side = (np.abs(s) - 1) * mw
        # Valence bends the whole lip line (a parabola, corners up when positive); AU12 / AU15 pull only the
        # corners (the outer 40% of the mouth) up / down: the two shapes differ, so a model can tell them apart.
        corner = np.clip((np.abs(s) - 0.6) / 0.4, 0, 1) ** 2
        yc = (my - p.mouth_valence_lift * _col(st.valence) * s**2
              - p.au_lip_corner_lift * (aus["AU12"] - aus["AU15"]) * corner)
        gap = (0.045 * aus["AU25"] + 0.1 * aus["AU26"]) * (1 - 0.7 * aus["AU24"])
        y_ui = yc - (gap / 2 + 0.03 * aus["AU10"]) * r  # AU10 lifts the upper lip off the teeth
        y_li = yc + gap / 2 * r
        thin = (1 - 0.55 * aus["AU23"]) * (1 - 0.25 * aus["AU24"])
        y_uo = y_ui - (ident.lip_upper * thin + 0.015 * aus["AU10"]) * (0.5 + 0.5 * r)
        y_lo = y_li + ident.lip_lower * thin * (0.5 + 0.5 * r)
        # AU24: the pressed lips push the skin around them into light bulges.
        inner = np.abs(s) < 0.9
        for y in (y_uo - 0.022, y_lo + 0.022):
            _paint(img, 0.6 * aus["AU24"] * inner * _edge(np.abs(w - y) - 0.012, px), 1.12 * ident.skin)
        _paint(img, _edge(np.maximum(np.maximum(y_uo - w, w - y_lo), side), px), ident.lips)
        _paint(img, _edge(np.maximum(np.abs(w - yc) - 0.006, side), px), 0.5 * ident.lips)
        # AU15 also creases the skin below the lip corners.
        crease = _edge(np.maximum(np.abs(au - mw - 0.01) - 0.007, np.abs(w - my - 0.07) - 0.04), px)
        _paint(img, 0.5 * aus["AU15"] * crease, 0.6 * ident.skin)
        # Half a pixel inwards, so closed lips (zero opening) show no mouth interior at all.
        inside = _edge(np.maximum(np.maximum(y_ui - w, w - y_li), side) + px / 2, px)
        _paint(img, inside, MOUTH_INSIDE)
        _paint(img, inside * _edge(w - y_ui - 0.03, px), TEETH)
