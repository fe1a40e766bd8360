"""Sending a run's report and verdict elsewhere: S3, notifications."""
