"""State: the SQLite database (one transaction per batch), its schema, the run lock, checklist history.
May import only the top modules (model, errors, ...); every other room builds on it.
"""
