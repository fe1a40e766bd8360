"""The Locust suite: users, the locustfile, listeners, the collector and its exporters."""
