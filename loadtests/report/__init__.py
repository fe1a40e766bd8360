"""What a run's results look like to people: console tables, the HTML report and its charts, messages."""
