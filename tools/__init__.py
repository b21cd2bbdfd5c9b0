"""Developer tools: offline rendering of stacks."""
