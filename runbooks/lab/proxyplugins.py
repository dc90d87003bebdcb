"""proxy.py plugins for the lab proxy; loaded by proxy.py itself (``--plugins``)."""

from __future__ import annotations

from proxy.http.exception import HttpRequestRejected
from proxy.http.proxy import HttpProxyBasePlugin


class DenyTunnels(HttpProxyBasePlugin):
    """Refuse every tunnel, as an allow-list that lacks the API host does."""

    def before_upstream_connection(self, request):
        raise HttpRequestRejected(
            status_code=403, reason=b"Forbidden",
            headers={b"Content-Type": b"text/plain"},
            body=b"Blocked by the lab's proxy policy: this host is not on the allow-list\n")
