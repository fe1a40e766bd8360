"""odavl-perf's Locust load-test suite, its local distributed runner and its results document.

The package root holds only the entry point (`__main__.py`), the errors (`errors.py`) and the
exit codes (`exit_codes.py`). The subpackages, from the top layer down (a package imports the
ones below it, never one above):

- `cli/`: the command lines (run a test, judge a results file, report, publish) and their options
- `report/`: the console summary, the HTML report and its charts, the notification messages
- `publish/`: delivering what a run produced (reports and results to S3, notifications)
- `analysis/`: bottlenecks, error budget, comparison with a baseline, recommendations, index hints
- `slo/`: the SLO catalogue, the threshold line model and parser, the evaluation of a run
- `results/`: the results document (schema, reader, writer), its metrics, histograms, the archive
- `run/`: run settings, load shapes, starting and awaiting a local master and its workers
- `suite/`: what runs inside Locust: users, listeners, metric collector, exporters, browser users

Importing this package imports neither Locust nor gevent: the modules that need them (the
locustfile, the listeners, the Locust shape, the browser users) are loaded only inside the
Locust processes, so the runner API can be used from any Python process.
"""
