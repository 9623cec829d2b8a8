"""Models: forecasting (``forecast``), credit scoring (``credit``), churn and customer
value (``churn``), customer segments (``segments``) and lead conversion (``leads``).

Layer: imports :mod:`salesplan.data` and :mod:`salesplan.execution` only; scikit-learn's
estimator contract (settings stored in ``__init__``, ``fit`` returns ``self``, learned
state ends in ``_``).
"""
