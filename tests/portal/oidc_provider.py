"""A minimal OpenID Connect provider on 127.0.0.1 for the tests (authorisation-code flow with
PKCE, RS256-signed id_tokens, a JWKS and a userinfo endpoint).

It stands in for Feide or ID-porten: whoever the test says is signed in at the provider
(``provider.identity``) is the person whose identity the id_token asserts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_ID = "test-key-1"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    claims: dict


@dataclass
class Provider:
    client_id: str = "regnekraft-test"
    client_secret: str = "s3cret-for-tests"
    identity: dict = field(
        default_factory=lambda: {"sub": "feide-1", "email": "pia@example.no", "name": "Pia"}
    )
    audience: str | None = None  # override to issue tokens for another client (an attack)
    # the provider vouches for the e-mail address unless told otherwise (None: no such claim);
    # an ``email_verified`` in ``identity`` wins
    email_verified: bool | None = True
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)
    requests_seen: list[str] = field(default_factory=list)

    def start(self) -> Provider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                provider.requests_seen.append(url.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(provider.discovery())
                elif url.path == "/authorize":
                    self._authorize(query)
                elif url.path == "/jwks":
                    self._json({"keys": [provider.jwk()]})
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider.tokens.get(token)
                    self._json(claims, 200) if claims else self._json(
                        {"error": "invalid_token"}, 401
                    )
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                provider.requests_seen.append(self.path)
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path != "/token":
                    return self._json({"error": "not_found"}, 404)
                status, body = provider.token(form)
                self._json(body, status)

            def _authorize(self, q: dict) -> None:
                if q.get("client_id") != provider.client_id or q.get("response_type") != "code":
                    return self._json({"error": "unauthorized_client"}, 400)
                code = secrets.token_urlsafe(16)
                provider.grants[code] = Grant(
                    q["client_id"],
                    q["redirect_uri"],
                    q.get("nonce", ""),
                    q.get("code_challenge", ""),
                    provider.claims(),
                )
                self.send_response(302)
                self.send_header(
                    "Location",
                    f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}",
                )
                self.end_headers()

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def claims(self) -> dict:
        claims = dict(self.identity)
        if self.email_verified is not None:
            claims.setdefault("email_verified", self.email_verified)
        return claims

    def jwk(self) -> dict:
        key = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**key, "kid": KEY_ID, "alg": "RS256", "use": "sig"}

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def settings(self) -> dict:
        return {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            "OIDC_OP_ISSUER": self.url,
        }

    def token(self, form: dict) -> tuple[int, dict]:
        grant = self.grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        if grant.code_challenge:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "PKCE verification failed",
                }
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": self.url,
                "sub": grant.claims["sub"],
                "aud": self.audience or grant.client_id,
                "iat": now,
                "exp": now + 300,
                "nonce": grant.nonce,
                "email": grant.claims.get("email"),
            },
            self.key,
            algorithm="RS256",
            headers={"kid": KEY_ID},
        )
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = grant.claims
        return 200, {
            "access_token": access_token,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": 300,
        }
