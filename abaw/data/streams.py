"""Input streams as data: each named stream (faces, audio, physiology, ...) has one reader that cuts the PAST
window of a clip from its files; the clip dataset reads exactly the streams that its models name.

A model's encoders declare the batch key they read (``MultitaskModel.input_keys``: "faces", "audio", ...). The
loader reads the union of the keys of the models that read a batch (a student and its teacher) and nothing
else: a visual-only student trained from exported teacher outputs never decodes audio. A new modality is an
encoder (``abaw.models.factory.register_encoder``) plus a stream reader registered here under the key the
encoder reads; no recipe, loop or loss changes.

A reader never reads the future: its window ends at the end of the row's frame (``ClipDataset.end_time``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

import torch

from abaw.data.audio import AudioStore, audio_window, check_audio_length
from abaw.data.cache import default_cache_dir
from abaw.data.layout import LayoutError
from abaw.progress import progress_bar

if TYPE_CHECKING:
    from abaw.config import ExperimentConfig
    from abaw.data.clips import ClipDataset

log = logging.getLogger(__name__)


class StreamReader(Protocol):
    """What a clip dataset asks of a stream.

    Attributes:
        key: the stream's name, the batch key its window fills ("faces", "audio", "physio").
    """

    key: str

    def prepare(self, dataset: ClipDataset) -> None:
        """Check that the dataset's videos have this stream's files and warm its caches, once, before loader
        workers start (each worker would otherwise decode the same files again). Raises a named error where a
        file this stream cannot do without is missing."""

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        """The batch entries of manifest row ``row``: usually ``{key: window}``, the past window that ends at
        the end of the row's frame."""

    def report(self, datasets: list[ClipDataset]) -> dict[str, list[str]]:
        """The documented fallbacks this stream took over a run's ``datasets`` (those that read it), by kind
        (e.g. ``videos_without_audio``), each logged as one summary warning: the run's ``data_report.json``."""


# Stream name (= batch key) -> factory of its reader from the experiment's config.
STREAMS: dict[str, Callable[[ExperimentConfig], StreamReader]] = {}
# Stream name -> the config keys ("section.key") its reader takes its window from. A student's batches carry
# its teacher's streams cut as the teacher was trained (``abaw.engine.setup.adopt_teacher_inputs``).
STREAM_CONFIG_KEYS: dict[str, tuple[str, ...]] = {}

# Batch keys that another stream fills: a face cache of features gives ``face_features`` in place of ``faces``.
ALIASES = {"face_features": "faces"}


def register_stream(name: str, factory: Callable[[ExperimentConfig], StreamReader],
                    config_keys: tuple[str, ...] = ()) -> None:
    """Make stream ``name`` readable: ``factory(config)`` returns a reader whose ``key`` is ``name``, cutting
    its windows by the config keys ``config_keys`` ("section.key", e.g. "data.audio_seconds")."""
    if name in STREAMS:
        raise ValueError(f"a reader for stream {name!r} is already registered")
    STREAMS[name] = factory
    STREAM_CONFIG_KEYS[name] = tuple(config_keys)


def stream_readers(config: ExperimentConfig, keys: Iterable[str]) -> tuple[StreamReader, ...]:
    """The readers of the batch keys ``keys`` (as models name them in ``input_keys``), faces first.

    Raises:
        ValueError: a key that no registered stream fills.
    """
    names = {ALIASES.get(key, key) for key in keys}
    unknown = sorted(names - set(STREAMS))
    if unknown:
        raise ValueError(f"no stream reader registered for {', '.join(unknown)}; known: {', '.join(STREAMS)}")
    return tuple(STREAMS[name](config) for name in STREAMS if name in names)


def model_input_keys(*models) -> set[str]:
    """The batch keys that the encoders of ``models`` read (None entries skipped: a teacher that is absent,
    or whose outputs were exported and so reads no batch)."""
    return {key for model in models if model is not None for key in model.input_keys.values()}


class FaceStream:
    """The past window of face crops (uint8 (T, 3, S, S)), the last one the row's frame's.

    The crops come from the JPEGs, or from the dataset's face cache (``data.face_cache``): the same pixels
    from a cache of frames, and from a cache of features ``face_features`` float32 (T, F) instead of faces.
    The dataset's ``transform`` (training augmentation) is applied to the faces.
    """

    key = "faces"

    def prepare(self, dataset: ClipDataset) -> None:
        """Nothing to warm: the crop folders were listed with the manifest, and a missing crop is a black or
        retained face (``data.retention``)."""

    def report(self, datasets: list[ClipDataset]) -> dict[str, list[str]]:
        """Nothing beyond the manifest's own record (videos without any crop: ``abaw.engine.data.data_report``)."""
        return {}

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        video = dataset.video_of(row)
        shown = dataset.shown_faces(row)
        cache = dataset.face_cache
        if cache is None:
            faces = torch.stack([dataset.read_face(video, face) for face in shown])
        else:
            faces = torch.from_numpy(cache.window(dataset.video_name(video), shown))
        if dataset.transform is not None:
            faces = dataset.transform(faces, int(torch.randint(0, 2**31 - 1, ())))
        return {cache.batch_key if cache is not None else self.key: faces}


class AudioStream:
    """The past ``seconds`` of a video's sound, mono float32 (samples,) at the store's rate; silence before
    the start of the video (and, logged, where the file has no audio track).

    Args:
        store: decodes each video file's audio once and caches it (:class:`abaw.data.audio.AudioStore`).
        seconds: the window's length (``data.audio_seconds``).
    """

    key = "audio"

    def __init__(self, store: AudioStore, seconds: float):
        self.store = store
        self.seconds = seconds

    def prepare(self, dataset: ClipDataset) -> None:
        """Decode each video file's audio once, and warn where a track is shorter than its video.

        Raises:
            LayoutError: videos without a file to hear (named, with what the data root holds).
        """
        files = [dataset.stream_file(self.key, v) for v in range(len(dataset.video_names()))]
        missing = [name for name, path in zip(dataset.video_names(), files) if path is None]
        if missing:
            raise LayoutError(f"audio clips need the video files; none found for {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''}\n{dataset.layout.describe()}")
        seconds = dataset.stream_seconds(self.key)
        for path in progress_bar(sorted(seconds), desc="decoding audio", unit="video", leave=False):
            self.store.waveform(path)
            check_audio_length(self.store, path, seconds[path])

    def report(self, datasets: list[ClipDataset]) -> dict[str, list[str]]:
        """``videos_without_audio`` (heard as silence) and ``videos_with_short_audio`` (silence past the end of
        their track), as video files."""
        stores = {id(r.store): r.store for d in datasets if (r := d.reads(self.key)) is not None}.values()
        files = {path for d in datasets for path in d.stream_seconds(self.key)}
        silent = sorted({str(f) for store in stores for f in store.missing})
        short = sorted({str(f) for store in stores for f in store.short})
        if silent:
            log.warning("video files without an audio track, whose clips hear silence: %d of %d (%s)",
                        len(silent), len(files), ", ".join(silent))
        if short:
            log.warning("video files whose audio track ends early, so that their last clips hear silence: %d of "
                        "%d (%s)", len(short), len(files), ", ".join(short))
        return {"videos_without_audio": silent, "videos_with_short_audio": short}

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        wave = self.store.waveform(dataset.stream_file(self.key, dataset.video_of(row)))
        window = audio_window(wave, self.store.sample_rate, dataset.end_time(row), self.seconds)
        return {self.key: torch.from_numpy(window)}


def audio_store(config: ExperimentConfig) -> AudioStore:
    """The audio cache of ``data.cache_dir`` at the model's sample rate."""
    cache_dir = f"{config.data.cache_dir}/audio" if config.data.cache_dir else default_cache_dir() / "audio"
    return AudioStore(cache_dir=cache_dir, sample_rate=config.model.sample_rate)


# The face window (data.window_frames, window_seconds, retention) is the student's own: a teacher must agree.
register_stream("faces", lambda config: FaceStream())
register_stream("audio", lambda config: AudioStream(audio_store(config), config.data.audio_seconds),
                config_keys=("data.audio_seconds", "model.sample_rate"))
# Streams defined in their own modules register themselves on import.
import abaw.data.physio  # noqa: E402,F401
