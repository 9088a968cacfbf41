"""Helpers for a course on multi-objective ranking in recommender systems.

The chapters of the course import everything they use from here. The
top-level names below are stable; the modules hold more:

========================  ===================================================
module                    holds
========================  ===================================================
``world``                 the synthetic world and its impression logs
``sampling``              negative downsampling
``calibration``           ``calibrate``, ``inflate``, reliability curves
``metrics``               AUC, log loss, normalized entropy, ECE, oracle
``models``                ``SharedBottom``, ``SingleTask`` and their features
``training``              ``fit`` with a progress bar, ``predict``
``funnel``                recall, pre-ranking, ranking, re-ranking
``fusion``                score fusion formulas
``plots``                 figures of the chapters, as pure functions
``widgets``               sliders that work live and on the static website
========================  ===================================================
"""

from mtrank_lite.calibration import calibrate, inflate, reliability_curve
from mtrank_lite.funnel import run_funnel
from mtrank_lite.fusion import fuse
from mtrank_lite.metrics import auc, compare_to_oracle, ece, logloss, normalized_entropy
from mtrank_lite.models import FeatureSpec, SharedBottom, SingleTask
from mtrank_lite.sampling import downsample_negatives
from mtrank_lite.training import fit, predict
from mtrank_lite.world import TASKS, make_world

__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "FeatureSpec",
    "SharedBottom",
    "SingleTask",
    "auc",
    "calibrate",
    "compare_to_oracle",
    "downsample_negatives",
    "ece",
    "fit",
    "fuse",
    "inflate",
    "logloss",
    "make_world",
    "normalized_entropy",
    "predict",
    "reliability_curve",
    "run_funnel",
]
