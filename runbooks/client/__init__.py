"""Claude Code as it reads its world: its settings files, its credentials, the numbers it parses,
the endpoint and the trust store, the proxy it picks (its NO_PROXY rules). Imports only the
vocabulary below it.
"""
