"""Every number the synthetic generator uses, with the reason it has that value.

The values are fixed from first principles (what the real corpus looks like, what the emotion literature says
about faces and voices) and never tuned to make one method look better than another. ``synthetic.json`` records
the whole dataclass next to the data it produced. See ``docs/synthetic.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abaw.tasks import AU_NAMES


def _circumplex() -> dict[str, tuple[float, float]]:
    # (valence, arousal) of each basic expression on Russell's circumplex (Russell 1980; Russell & Barrett 1999),
    # rounded: pleasant-excited for happiness, unpleasant-activated for anger and fear, unpleasant-deactivated for
    # sadness, activated and slightly pleasant for surprise, neutral at the calm centre.
    return {
        "Neutral": (0.0, -0.1),
        "Anger": (-0.55, 0.65),
        "Disgust": (-0.7, 0.2),
        "Fear": (-0.35, 0.8),
        "Happiness": (0.75, 0.35),
        "Sadness": (-0.7, -0.45),
        "Surprise": (0.2, 0.85),
    }


def _prototypes() -> dict[str, dict[str, float]]:
    # EMFACS prototypes (Friesen & Ekman 1983), restricted to the 12 ABAW AUs. Core AUs of a prototype appear with
    # probability 0.85 and optional ones with 0.5: spontaneous displays rarely show the complete prototype.
    # "Other" (affective states outside the six basic ones) has no prototype: every AU at a low rate.
    core, optional = 0.85, 0.5
    return {
        "Neutral": {},
        "Anger": {"AU4": core, "AU7": core, "AU23": core, "AU24": optional},
        "Disgust": {"AU10": core, "AU4": optional, "AU15": optional},
        "Fear": {"AU1": core, "AU2": core, "AU4": core, "AU25": core, "AU26": 0.3},
        "Happiness": {"AU6": core, "AU12": 0.9, "AU25": optional},
        "Sadness": {"AU1": core, "AU4": core, "AU15": core},
        "Surprise": {"AU1": core, "AU2": core, "AU25": core, "AU26": core},
        "Other": {au: 0.15 for au in AU_NAMES},
    }


@dataclass(frozen=True)
class SynthParams:
    """Parameters of the synthetic Aff-Wild2. Units: seconds, Hz, normalised face units (the crop spans [-1, 1])."""

    # ---- videos, splits and tasks -------------------------------------------------------------------------------
    # The official ABAW partitions are roughly 60/20/20 (train/validation/test) by video.
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    min_val_videos: int = 2  # a validation or test set of one video cannot show per-video bugs
    min_test_videos: int = 2
    # The organisers ship the videos in two archives of about equal size.
    batch1_fraction: float = 0.5
    # Task subsets of a train/validation video and their shares: in Aff-Wild2 the three task sets overlap only in
    # part (about 550-600 videos each, out of 594+ total), so "all three" is the most common case.
    task_patterns: tuple[tuple[tuple[str, ...], float], ...] = (
        (("va", "expr", "au"), 0.4),
        (("va", "expr"), 0.1), (("va", "au"), 0.1), (("expr", "au"), 0.1),
        (("va",), 0.1), (("expr",), 0.1), (("au",), 0.1),
    )
    # Frame rates present in Aff-Wild2 (mostly YouTube uploads); both must appear.
    fps_choices: tuple[int, ...] = (25, 30)
    # Frame sizes (width, height). Real videos go up to 1920x1080; these small ones keep encoding fast while the
    # names still carry the size, as the real names do.
    frame_sizes: tuple[tuple[int, int], ...] = ((640, 360), (480, 360), (426, 240), (320, 240))
    # Video lengths vary; +-25% around --seconds so that no reader can assume equal lengths.
    duration_jitter: float = 0.25
    # Name styles of Aff-Wild2 videos: "12-30-640x360" (index-fps-size), "video12", "108".
    name_style_shares: tuple[tuple[str, float], ...] = (("fps-size", 0.5), ("video", 0.25), ("number", 0.25))
    max_name_number: int = 480  # the real corpus numbers its videos up to a few hundred

    # ---- latent affect ------------------------------------------------------------------------------------------
    control_hz: float = 100.0  # the latents live on a 10 ms grid shared by video frames and audio
    # Gaussian smoothing of white noise; the autocorrelation falls to 1/e after 2 * sigma = 5 s, the several-second
    # time scale of the continuous (joystick) valence/arousal traces of Aff-Wild2, slow enough that labels that
    # lag the face by 2-4 s (below) still say much about what the face shows.
    va_smooth_sigma_s: float = 2.5
    # v = tanh(gain * z + person offset), z of unit variance: keeps values in (-1, 1) and spreads them over most of
    # the range; the per-person offset (std 0.3) gives people different typical moods, as annotated people do.
    va_gain: float = 0.9
    va_person_offset_std: float = 0.3
    # Expression segments last 1-4 s: the typical duration of a spontaneous facial expression (onset-apex-offset).
    expr_segment_s: tuple[float, float] = (1.0, 4.0)
    circumplex: dict[str, tuple[float, float]] = field(default_factory=_circumplex)
    # Softmax over squared distances to the circumplex positions. Equal-variance Gaussian categories give exactly
    # this softmax with the temperature as their spread: 0.5, half an axis unit, because categorical and dimensional
    # labels of the same faces overlap widely (AffectNet's per-category valence/arousal clouds do). The category
    # then explains about 40% of the variance of valence and 30% of arousal: informative, not decisive.
    expr_temperature: float = 0.5
    other_share: float = 0.1  # "Other" is drawn independently of (v, a): it is not a region of the circumplex
    au_prototypes: dict[str, dict[str, float]] = field(default_factory=_prototypes)
    # Independent AU activations outside any prototype (talking, idiosyncratic movements): each AU has its own
    # on/off segments of 0.5-2 s, on with probability 0.06.
    au_spontaneous_segment_s: tuple[float, float] = (0.5, 2.0)
    au_spontaneous_p: float = 0.06
    # The VA labels are not the latent state: like Aff-Wild2's (several annotators with a joystick, combined), they
    # are the mean of `raters` traces. Each rater follows the latent state late (a reaction lag drawn per rater
    # and video in `rater_lag_s`: 2-4 s, the annotation delays measured on continuous affect ratings, e.g.
    # Mariooryad & Busso 2015; Nicolaou et al. 2014), with their own gain and offset (raters use the scale
    # differently) and their own slowly varying disagreement (smooth noise of std `rater_noise_std`). The mean
    # is clipped to [-1, 1]. EXPR and AU labels are per-frame judgements and stay the latent truth.
    raters: int = 4
    rater_lag_s: tuple[float, float] = (2.0, 4.0)
    rater_gain: tuple[float, float] = (0.75, 1.25)
    rater_offset_std: float = 0.1
    rater_noise_std: float = 0.25
    rater_noise_sigma_s: float = 2.0
    # Unlabelled stretches ("-5" / "-1") in about half the annotation files: 2-6% of their frames, in runs of 5-40
    # frames (annotators skip stretches they cannot judge).
    ignore_file_p: float = 0.5
    ignore_fraction: tuple[float, float] = (0.02, 0.06)
    ignore_run: tuple[int, int] = (5, 40)
    mtl_ignore_p: float = 0.04  # MTL rows where one task's label is absent, per task
    mtl_every_s: float = 1.0  # the static MTL images: one frame per second of each video
    mtl_duplicates: tuple[int, int] = (2, 5)  # exact duplicate rows per MTL file, as in the real files

    # ---- face detection failures ---------------------------------------------------------------------------------
    # Aff-Wild2 crops are missing where no face was detected: 3-6% of frames, in runs of 5-50 frames (head turns,
    # occlusions). One video starts with a few faceless frames (a title card or a late face).
    no_face_fraction: tuple[float, float] = (0.03, 0.06)
    no_face_run: tuple[int, int] = (5, 50)
    no_face_run_max_share: float = 0.12  # a run may not eat more than this share of a short video
    first_frames_without_face: tuple[int, int] = (5, 12)

    # ---- the face (normalised crop units: 1.0 = half the 112-pixel crop) ----------------------------------------
    # Valence bends the whole lip line (a parabola): the corners rise by 0.09 (about 6 pixels) at v = +1 and drop
    # as much at v = -1, a clearly visible, continuous change. AU12 / AU15 move only the outer 40% of the lips
    # (the corners, by 0.07), a different shape, so valence and these AUs stay separable.
    mouth_valence_lift: float = 0.075
    au_lip_corner_lift: float = 0.07
    # Arousal shows in the face through several weak, natural cues (facial activation: eyes opened wider, brows
    # raised, more head movement, more blinks; e.g. Ekman & Friesen's activation cues, blink rate rising with
    # arousal: Stern et al. 1984), each smaller than what identity or a blink changes, so that together they let
    # a face-only read-out find arousal clearly above zero and clearly below the voice (docs/synthetic.md sets
    # their sizes with the probes, from published face-only levels). Per unit of arousal:
    eye_arousal_gain: float = 0.35  # upper-lid opening +35% (identities differ by +-20%; a blink closes 90%)
    brow_arousal_raise: float = 0.05  # both brows up by 0.05 face units (about 3 pixels; AU1+AU2 move 0.08-0.09)
    motion_arousal_gain: float = 0.5  # head-motion and residual crop motion amplitude x exp(0.5 a)
    blink_arousal_gain: float = 0.5  # blink rate x exp(0.5 a)
    blink_rate_hz: float = 0.25  # 15 blinks per minute at arousal 0, the typical spontaneous blink rate
    blink_duration_s: float = 0.15
    gaze_std: float = 0.2  # iris movement, in eye widths: people look around while they talk
    # Residual misalignment of the aligned crops (pixels / degrees / relative scale), and head motion in the video.
    crop_jitter_px: float = 1.5
    crop_jitter_deg: float = 2.0
    crop_jitter_scale: float = 0.02
    head_roll_deg: float = 8.0
    head_shift: float = 0.06  # of the frame width
    head_scale: float = 0.06
    pose_smooth_sigma_s: float = 0.8  # head motion is faster than affect changes
    lighting_smooth_sigma_s: float = 3.0  # lighting drifts slowly (clouds, camera auto-exposure)
    lighting_brightness_std: float = 0.12
    pixel_noise_std: tuple[float, float] = (1.0, 4.0)  # per video, in 8-bit grey levels
    jpeg_quality: tuple[int, int] = (80, 95)
    # Frames per rendered face: 1 renders every frame. Above 1, each run of this many frames shows the face
    # rendered for its first frame, and their crop files are hard links to one JPEG: the same files and names,
    # written many times faster, for sets sized to measure the data path (benchmarks/million_frames.py), not
    # to learn from.
    hold_frames: int = 1

    # ---- the voice ------------------------------------------------------------------------------------------------
    # Arousal is carried by the classic vocal-activation cues (Scherer 2003; Juslin & Laukka 2003): louder, higher
    # and faster speech. Per unit of arousal: +6 dB, +3.5 semitones, +25% syllable rate.
    loudness_db_per_arousal: float = 6.0
    f0_semitones_per_arousal: float = 3.5
    syllable_rate_hz: float = 4.5  # mean syllable rate of conversational speech
    syllable_rate_gain: float = 0.25
    # Brighter voice (flatter harmonic spectrum) when aroused: spectral tilt 1/k^tilt, from 2.0 (lax) to 1.0 (tense).
    tilt_lax: float = 2.0
    tilt_tense: float = 1.0
    f0_base_hz: tuple[tuple[float, float], ...] = ((95.0, 140.0), (170.0, 240.0))  # lower and higher voices
    intonation_semitones: float = 1.0  # slow random pitch movement, independent of arousal
    # Talk spurts and pauses are drawn independently of arousal, so silence says nothing about it.
    talk_spurt_s: tuple[float, float] = (1.0, 4.0)
    pause_s: tuple[float, float] = (0.3, 1.5)
    sample_rates: tuple[int, ...] = (44100, 48000)
    stereo_p: float = 0.5
    snr_db: tuple[float, float] = (8.0, 25.0)  # background noise level relative to speech, per video
    noise_drift_db: float = 2.0  # the noise level also drifts slowly within a video
    recording_gain_db: tuple[float, float] = (-3.0, 3.0)  # microphones and uploads differ in level
    speech_rms: float = 0.08  # overall level (full scale = 1); peaks of the loudest speech stay below clipping

    # ---- encoding -------------------------------------------------------------------------------------------------
    x264_preset: str = "veryfast"
    x264_crf: int = 23
    mpeg4_bit_rate: int = 1_000_000  # the .avi (MPEG-4 Part 2) video
