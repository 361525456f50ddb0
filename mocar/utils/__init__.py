"""Small helpers shared by every stage (atomic file writes, YAML, machine description)."""
