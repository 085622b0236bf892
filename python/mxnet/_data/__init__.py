"""Data files shipped inside the package (the MNIST test split)."""
