"""Data sets that need no download (design section 4): one module per family.

* :mod:`discgrad.data.digits`: scikit-learn's 8x8 digits, binarised with a fixed split, or
  corrupted and split by class for retrieval;
* :mod:`discgrad.data.explain`: a synthetic explanation task with known relevant positions;
* :mod:`discgrad.data.sequences`: random sequences to sort and their permutations.
"""
from .digits import DigitsSplit, RetrievalDigits, load_binary_digits, load_retrieval_digits
from .explain import ExplainData, make_explain_data
from .sequences import SortData, make_sequences

__all__ = ["DigitsSplit", "load_binary_digits", "RetrievalDigits", "load_retrieval_digits",
           "ExplainData", "make_explain_data", "SortData", "make_sequences"]

from .flags import Globe, TourData, chordal_distances, make_globe, make_tours  # noqa: E402

__all__ += ["Globe", "TourData", "chordal_distances", "make_globe", "make_tours"]

# synthetic keypoint-matching pairs (chapter 8, deep graph matching)
from .keypoints import KeypointPairs, make_keypoint_pairs  # noqa: E402

__all__ += ["KeypointPairs", "make_keypoint_pairs"]

# procedural Warcraft-like terrain maps (chapter 11, Warcraft shortest paths)
from .terrain import TERRAINS, TerrainMaps, make_terrain_maps  # noqa: E402

__all__ += ["TERRAINS", "TerrainMaps", "make_terrain_maps"]
