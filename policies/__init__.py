"""CrossGuard policy pack of odavl-perf: policies in `rules`, their pure checks in `checks`."""
