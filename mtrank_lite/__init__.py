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
``plots``                 figures of the chapters, as pure functions
``widgets``               sliders that work live and on the static website
========================  ===================================================
"""

from mtrank_lite.calibration import calibrate, inflate, reliability_curve
from mtrank_lite.metrics import auc, ece, logloss, normalized_entropy
from mtrank_lite.sampling import downsample_negatives
from mtrank_lite.world import TASKS, make_world

__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "auc",
    "calibrate",
    "downsample_negatives",
    "ece",
    "inflate",
    "logloss",
    "make_world",
    "normalized_entropy",
    "reliability_curve",
]
