"""Claude Code's own records: its transcripts (history) and its debug logs (debuglog), read within
a budget.
"""
