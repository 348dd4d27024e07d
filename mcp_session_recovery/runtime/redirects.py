"""Which redirects the runtime follows, and where it follows them: 307 and 308 to the endpoint's own
origin, a few hops at most, once for every wire.

A session id, a protocol-version header and the client's credentials belong to the endpoint's
origin. An HTTP client told to follow redirects carries most headers along (httpx drops only
``Authorization`` across origins), so no wire follows any: a wire sends one request where it is
told (``Outgoing.url``, or its endpoint) and hands back whatever answer came. Every place the
runtime sends goes through :func:`send_following`, which asks :func:`redirect_target` and re-sends
the same request, method, body and headers, to the target, only when it shares the endpoint's
origin. 301, 302 and 303 are never followed (clients turn the POST into a GET); any redirect left
comes back to the runtime as an answer, and its caller gets
:class:`~mcp_session_recovery.model.RedirectRefused`. Nothing is remembered: a client above keeps
its URL, so each request is followed anew.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urljoin, urlsplit

from mcp_session_recovery.model import Outgoing

from .era_cache import origin_of
from .wire import WireResponse

__all__ = ["FOLLOWED_REDIRECTS", "MAX_REDIRECTS", "Send", "redirect_target", "send_following"]

#: Sends one request as :meth:`~.wire.Wire.send` does (to ``outgoing.url``, else the endpoint).
Send = Callable[[Outgoing], Awaitable[WireResponse]]

#: The redirects that keep the method and the body.
FOLLOWED_REDIRECTS = frozenset({307, 308})
#: The most redirects followed for one request.
MAX_REDIRECTS = 5


def redirect_target(url: str, status: int, headers: Mapping[str, str]) -> str | None:
    """Where to re-send a request to ``url`` answered ``status``, or ``None`` to take the answer."""
    if status not in FOLLOWED_REDIRECTS:
        return None
    location = headers.get("location", "").strip()
    if not location:
        return None
    try:
        target = urljoin(url, location)
        if urlsplit(target).scheme not in ("http", "https") or origin_of(target) != origin_of(url):
            return None
    except ValueError:  # an unparsable Location (a bad port, say) is not followed
        return None
    return target.partition("#")[0]


async def send_following(send: Send, outgoing: Outgoing, endpoint: str) -> WireResponse:
    """The answer ``outgoing`` ends in, sent with ``send``: its first answer, unless that is a redirect
    :func:`redirect_target` allows; then ``outgoing`` is sent again to each target (``url`` set),
    through the same ``send``. ``endpoint``: where ``outgoing`` goes when its ``url`` is ``None``.

    Every followed redirect is released.
    """
    response = await send(outgoing)
    if response.status not in FOLLOWED_REDIRECTS:  # the plain case: no other step, no other await
        return response
    return await _followed(send, outgoing, outgoing.url or endpoint, response)


async def _followed(send: Send, outgoing: Outgoing, url: str, response: WireResponse) -> WireResponse:
    for _ in range(MAX_REDIRECTS):
        target = redirect_target(url, response.status, response.headers)
        if target is None:
            return response
        await response.aclose()
        url = target
        response = await send(dataclasses.replace(outgoing, url=url))
    return response  # the last hop's answer is the caller's, redirect or not
