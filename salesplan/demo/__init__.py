"""The demo company: a generator of a complete, valid sales history with its ground truth.

Layer: imports :mod:`salesplan.data` only (beside the models; nothing below imports it).
"""

from salesplan.demo.generator import DemoCompany, GroundTruth, generate

__all__ = ["DemoCompany", "GroundTruth", "generate"]
