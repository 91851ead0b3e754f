"""Addresses: the client's address behind trusted proxies, and the origin of the map tile server.

Imported by the settings, so nothing here touches Django at import time.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in trusted if item.strip())


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [::1]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 1.2.3.4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_ip(request: Any) -> str:
    """The address of the person making the request.

    ``REMOTE_ADDR`` unless it is one of ``GOVGRID_TRUSTED_PROXIES``; then the right-most address of
    ``X-Forwarded-For`` that is not itself a trusted proxy (the left part of that header is whatever the client
    typed, so it is never believed on its own).
    """
    from django.conf import settings

    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = _networks(tuple(getattr(settings, "GOVGRID_TRUSTED_PROXIES", ()) or ()))
    remote_ip = _ip(remote)
    if not trusted or remote_ip is None or not any(remote_ip in net for net in trusted):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return remote  # a garbled header: keep the proxy's own address rather than guess
        if not any(address in net for net in trusted):
            return str(address)
    return remote


def tile_origin(url: str) -> str:
    """``https://tiles.example`` of a tile URL template such as ``https://{s}.tiles.example/{z}/{x}/{y}.png`` (a
    ``{s}`` sub-domain becomes ``*``), or "" when there is none."""
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "s-placeholder"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.netloc.replace("s-placeholder", "*")
    return f"{parts.scheme}://{host}"
