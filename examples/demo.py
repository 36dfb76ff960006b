"""psqlpy demo (placeholder: the real demo is being written separately)."""

print("demo not written yet")
