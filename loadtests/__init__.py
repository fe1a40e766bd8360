"""odavl-perf's Locust load-test suite, its local distributed runner and its results document.

Importing this package imports neither Locust nor gevent: the modules that need them
(locustfile.py, listeners.py, locust_shape.py, the exporters) are loaded only inside the
Locust processes, so the runner API can be used from any Python process.
"""
