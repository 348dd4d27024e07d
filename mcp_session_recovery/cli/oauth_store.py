"""Where a bridge keeps what OAuth gave it: per server, one JSON file readable by the user alone.

A file per server (its name a hash of the server's URL), in ``--oauth-store DIR`` or the user's
config directory (platformdirs), holds the tokens and the client registration, so a bridge started
again uses them at once (and refreshes them) instead of asking the user to authorize again. Files
are written whole (a temporary file renamed over the old one) with mode 0600, in a directory of
mode 0700. Nothing here ever prints a token or a secret: the reprs name the server's origin only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp_session_recovery.runtime import origin_of

if TYPE_CHECKING:  # the mcp extra: imported where a token is read (OAuth may never run)
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

__all__ = ["APP_NAME", "TokenStore", "default_store_dir", "store_key"]

#: The directory name under the user's config directory.
APP_NAME = "mcp-session-recovery"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def default_store_dir() -> Path:
    """``<the user's config directory>/mcp-session-recovery/oauth``."""
    import platformdirs  # the cli extra

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "oauth"


def store_key(server_url: str) -> str:
    """The file name's stem for ``server_url``: a hash of the URL without its fragment."""
    parts = urlsplit(server_url)
    canonical = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), fragment="").geturl()
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class TokenStore:
    """The SDK's ``TokenStorage`` for one server, kept in ``directory``.

    ``pre_registered``: a client registration given by the user (``--oauth-client-id``); it is
    what :meth:`get_client_info` answers, and it is never written to the file.
    """

    def __init__(
        self, directory: Path, server_url: str, *, pre_registered: OAuthClientInformationFull | None = None
    ) -> None:
        self.path = directory / f"{store_key(server_url)}.json"
        self._server = origin_of(server_url)
        self._pre_registered = pre_registered
        self._document: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<TokenStore for {self._server}>"

    # -- the SDK's TokenStorage ----------------------------------------------------------------

    async def get_tokens(self) -> OAuthToken | None:
        from mcp.shared.auth import OAuthToken

        found = self._read().get("tokens")
        return OAuthToken.model_validate(found) if found else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._update(tokens=tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        if self._pre_registered is not None:
            return self._pre_registered
        from mcp.shared.auth import OAuthClientInformationFull

        found = self._read().get("client_info")
        return OAuthClientInformationFull.model_validate(found) if found else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        if self._pre_registered is not None and client_info.client_id == self._pre_registered.client_id:
            return  # the user's own registration stays on the command line, not on disk
        self._update(client_info=client_info.model_dump(mode="json", exclude_none=True))

    # -- for the bridge ------------------------------------------------------------------------

    def has_tokens(self) -> bool:
        """Whether tokens for this server are stored (the bridge then uses them from its first request)."""
        return bool(self._read().get("tokens"))

    def stored_redirect_uri(self) -> str | None:
        """The redirect URI of the stored (dynamic) registration, if any."""
        uris = (self._read().get("client_info") or {}).get("redirect_uris") or []
        return str(uris[0]) if uris else None

    def forget_registration(self) -> None:
        """Drop the stored registration (it names a callback the bridge can no longer listen on)."""
        self._update(client_info=None)

    def secrets(self) -> list[str]:
        """Every secret stored or given (tokens, client secret): kept out of every message."""
        document = self._read()
        found = [
            (document.get("tokens") or {}).get("access_token"),
            (document.get("tokens") or {}).get("refresh_token"),
            (document.get("client_info") or {}).get("client_secret"),
            self._pre_registered.client_secret if self._pre_registered is not None else None,
        ]
        return [value for value in found if isinstance(value, str) and value]

    # -- the file ------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        if self._document is None:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = {}  # none yet, or unreadable: start afresh (the user authorizes again)
            self._document = loaded if isinstance(loaded, dict) else {}
        return self._document

    def _update(self, **fields: Any) -> None:
        document = dict(self._read())
        for name, value in fields.items():
            if value is None:
                document.pop(name, None)
            else:
                document[name] = value
        document["server"] = self._server
        self._document = document
        self._write(document)

    def _write(self, document: dict[str, Any]) -> None:
        directory = self.path.parent
        directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        temporary = directory / f".{self.path.name}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(document, file)
            os.chmod(temporary, _FILE_MODE)  # whatever the umask made of it
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
