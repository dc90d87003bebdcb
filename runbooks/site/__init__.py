"""The knowledge base's build: the MkDocs hooks (hooks) and the example outputs regenerated from
the lab (examples).
"""
