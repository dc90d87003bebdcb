"""Plan, apply, undo: which fix each finding calls for (remedies, tls_fix), the edits that keep a
file's formatting (jsonedit, shellblock), and the journal every apply and undo goes through
(plan).
"""
