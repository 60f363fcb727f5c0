"""Face detection, tracking and alignment for videos that come without face crops (``abaw-faces``).

``docs/faces.md`` says how to prepare a data root with it, why MTCNN, and what it measures.
"""

from abaw.faces.align import canonical_landmarks, similarity
from abaw.faces.detector import MTCNN, DetectorConfig, Detections
from abaw.faces.extract import DETECTION_COLUMNS, CropConfig, VideoSummary, extract_faces, read_report
from abaw.faces.track import TrackConfig, Tracker, iou

__all__ = ["DETECTION_COLUMNS", "MTCNN", "CropConfig", "DetectorConfig", "Detections", "TrackConfig", "Tracker",
           "VideoSummary", "canonical_landmarks", "extract_faces", "iou", "read_report", "similarity"]
