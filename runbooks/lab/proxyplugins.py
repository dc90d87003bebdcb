"""proxy.py plugins for the lab proxy; loaded by proxy.py itself (``--plugins``)."""

from __future__ import annotations

from proxy.common.flag import flags
from proxy.http.exception import HttpRequestRejected
from proxy.http.proxy import HttpProxyBasePlugin

flags.add_argument("--lab-route-to", type=str, default="",
                   help="HOST:PORT: send every tunnel there (the lab's 'only the proxy gets "
                        "out' network)")


class DenyTunnels(HttpProxyBasePlugin):
    """Refuse every tunnel, as an allow-list that lacks the API host does."""

    def before_upstream_connection(self, request):
        raise HttpRequestRejected(
            status_code=403, reason=b"Forbidden",
            headers={b"Content-Type": b"text/plain"},
            body=b"Blocked by the lab's proxy policy: this host is not on the allow-list\n")


class RouteTo(HttpProxyBasePlugin):
    """Reach every host at ``--lab-route-to``: the proxy sees a network the client does not."""

    def before_upstream_connection(self, request):
        host, _, port = self.flags.lab_route_to.rpartition(":")
        request.host, request.port = host.encode(), int(port)
        return request


class WantsNtlm(HttpProxyBasePlugin):
    """Answer every request with ``407`` offering only Negotiate and NTLM, one
    ``Proxy-Authenticate`` header each, as an Active Directory proxy (Squid with
    ``negotiate_kerberos_auth``, ISA/TMG, Blue Coat) does. No credential ever opens it:
    Claude Code, which only does Basic, cannot get through."""

    def before_upstream_connection(self, request):
        raise HttpRequestRejected(
            status_code=407, reason=b"Proxy Authentication Required",
            # two header lines of the same name: the dict needs two spellings of the key
            headers={b"Proxy-Authenticate": b"Negotiate", b"proxy-authenticate": b"NTLM",
                     b"Content-Type": b"text/plain"},
            body=b"The lab's proxy wants Windows (NTLM or Kerberos) authentication\n")


class LoopbackOnly(HttpProxyBasePlugin):
    """Reach every host on 127.0.0.1, at the port asked for: the lab's proxy resolves the
    names Claude Code needs (``claude.ai``…) to lab servers, never to the internet."""

    def before_upstream_connection(self, request):
        request.host = b"127.0.0.1"
        return request
