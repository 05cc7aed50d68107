"""Sources: which files to read, which bytes of them are new, and in what order (checkpoints,
rotations, event-time interleaving, change events, log-source health). May import state and the top modules.
"""
