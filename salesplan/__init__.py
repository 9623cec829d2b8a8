"""salesplan: open-source sales planning on Jupyter.

Layers (nothing lower imports anything higher; ``tests/test_layers.py`` checks it)::

    salesplan.data, salesplan.execution      contract, sources, store | local and Dask backends
    salesplan.models, salesplan.demo         forecast, credit, churn, segments, leads | demo company
    salesplan.planning                       targets, quota, funnel, pipeline, monitor, review,
                                             allocation, commission, performance
    salesplan.reports, salesplan.cli         notebooks' helpers, runner, workbook, CLI
"""

__version__ = "0.1.0"
