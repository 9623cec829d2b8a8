"""salesplan: open-source sales planning on Jupyter.

Layers (nothing lower imports anything higher): ``salesplan.data`` -> models
(``forecast``, ``credit``, ``churn``, ``segments``) -> planning (``targets``, ``funnel``,
``allocation``, ``commission``, ``monitor``) -> ``reports`` and the notebooks.
"""

__version__ = "0.1.0"
