"""Operations tooling of odavl-perf: ephemeral stacks (`python -m ops.ephemeral`)."""
