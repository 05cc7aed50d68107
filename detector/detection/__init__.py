"""Detection: compile scenario rules, evaluate them on parsed batches (vectorized), correlate matches
into findings with a confidence. Pure core: imports parsing, checklist, state and the top modules.
"""
