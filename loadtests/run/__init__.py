"""Starting and awaiting one run on local processes: its config, the staged shape, the runner."""
