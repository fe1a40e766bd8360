"""Browser users: a Chromium driver process per user that measures LCP, CLS and INP."""
