"""What the API needs to know about browsers: the dashboard's cookie and its headers.

The route guard (routes.py) accepts the dashboard's session cookie in place of an
``Authorization`` header on routes declared ``browser=True`` (and only there: a JSON
API route never reads cookies), and answers their refusals with a page or a redirect to
``/login`` instead of JSON. Every such answer carries the strict headers below.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

#: The cookie naming the dashboard session a user signed in to (a random id, never the
#: token: fleet.adapters.http.sessions); HttpOnly, SameSite=Strict.
SESSION_COOKIE = "fleet_session"
#: No inline script or style anywhere: everything comes from /static/ on this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def secure(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` with the dashboard's security headers (unless already prepared)."""
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


#: The live stream's path: its refusals are answered in a form ``EventSource`` reads.
STREAM_PATH = "/ui/stream"
#: What the live stream says when no session (or token) admits it any more: the page
#: then goes to the sign-in page itself (an EventSource cannot follow a redirect to an
#: HTML page: it would log an error and retry forever).
SIGN_IN_EVENT = b"retry: 60000\nevent: signin\ndata: {}\n\n"


def refusal_answer(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """A refused dashboard request: to the sign-in page when a token is needed for a
    page, an ``event: signin`` for the live stream, else a short plain-text answer
    (escaping is moot in text/plain + nosniff)."""
    if status == 401 and request.path == STREAM_PATH:
        response: web.StreamResponse = web.Response(
            body=SIGN_IN_EVENT,
            content_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )
    elif status == 401 and request.method == "GET":
        target = "/login?next=" + quote(request.path_qs, safe="")
        response = web.Response(status=303, headers={"Location": target})
    else:
        response = web.Response(status=status, text=f"{status}: {message}\n")
    return secure(response)
