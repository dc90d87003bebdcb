"""One probe per step of the path (dns, tcp, tunnel, tls, http, status, live, hosts, …) and the
one boundary where socket, ssl and httpx exceptions become cause codes (classify). Reads the
client's world; knows no runbook and no fix.
"""
