"""Anchor conventions, one module per framework family.

Each module states its rules (units, what size and ratio mean, per-cell order, centre rule,
rounding, clip, output box format) next to the code that applies them and the sources they
follow. ``mxnet`` (MultiBoxPrior) is the default convention.
"""
