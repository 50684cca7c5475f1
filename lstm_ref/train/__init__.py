"""Training loops and the experiments the book runs at build time."""
