"""Which redirects the wires follow: 307 and 308 to the endpoint's own origin, a few hops at most.

A session id, a protocol-version header and the client's credentials belong to the endpoint's
origin. An HTTP client told to follow redirects carries most headers along (httpx drops only
``Authorization`` across origins), so no wire lets its client follow them: each hands its first
answer to :func:`following`, which asks :func:`redirect_target` and re-sends the same request,
method, body and headers, only when the target shares the endpoint's origin. 301, 302 and 303
are never followed (clients turn the POST into a GET); any redirect left comes back to the
runtime as an answer, and its caller gets :class:`~mcp_session_recovery.model.RedirectRefused`.
Nothing is remembered: a client above keeps its URL, so each request is followed anew.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

from .era_cache import origin_of
from .wire import WireResponse

__all__ = ["FOLLOWED_REDIRECTS", "MAX_REDIRECTS", "following", "redirect_target"]

_R = TypeVar("_R", bound=WireResponse)

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


async def following(url: str, response: _R, send: Callable[[str], Awaitable[_R]]) -> _R:
    """The answer a request to ``url`` ends in, given its first answer ``response``: that answer,
    unless it is a redirect :func:`redirect_target` allows; then ``send(target)`` again for each.

    Every followed redirect is released.
    """
    for _ in range(MAX_REDIRECTS):
        target = redirect_target(url, response.status, response.headers)
        if target is None:
            return response
        await response.aclose()
        url = target
        response = await send(url)
    return response  # the last hop's answer is the caller's, redirect or not
