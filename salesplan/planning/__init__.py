"""Planning: targets and quotas (``targets``, ``quota``, ``fiscal_calendar``), the funnel
(``funnel``, ``pipeline``), in-quarter monitoring (``monitor``, ``review``), resources
(``allocation``), pay (``commission``) and the rep review (``performance``).

Layer: imports :mod:`salesplan.data`, :mod:`salesplan.execution` and
:mod:`salesplan.models`; plain functions over DataFrames plus frozen parameter dataclasses.
"""
