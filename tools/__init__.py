"""Developer tools: offline rendering of stacks, the pull-request preview and the cost estimate."""
