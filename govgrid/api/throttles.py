"""Throttles on the shared cache: per token for token calls, per user for session calls, per address for
anonymous ones (the token endpoint). Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class TokenOrUserThrottle(SimpleRateThrottle):
    """``token`` scope for token calls (each token its own budget), ``user`` for signed-in sessions."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        token = request.auth if getattr(request.auth, "key_hash", None) else None
        if token is not None:
            self.scope = "token"
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
            return self.cache_format % {"scope": "token", "ident": token.pk}
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": "user", "ident": request.user.pk}
        return None


class AnonThrottle(SimpleRateThrottle):
    scope = "anon"

    def get_cache_key(self, request, view) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
