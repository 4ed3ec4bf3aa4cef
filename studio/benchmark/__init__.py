"""TAP-Vid benchmarking: datasets (files), the evaluation protocol, metrics, a runner and reports.

``runner.evaluate`` scores one tracker on a dataset; ``report`` turns results into
tables, CSV/JSON, published numbers and plots for the CLI (``python -m studio bench``)
and the app's Benchmark tab (``studio.service.bench_job``).
"""
