"""Experiments of the paper reproduced on the synthetic benchmark (Table 1, weak supervision)."""
