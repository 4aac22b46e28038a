# Python: verify a usergraph access token with its published keys (PyJWT,
# `pip install "pyjwt[crypto]"`). PUBLIC_URL is usergraph's, also the issuer.
import jwt

PUBLIC_URL = "https://id.example.com"
jwks = jwt.PyJWKClient(f"{PUBLIC_URL}/.well-known/jwks.json")


def verify(token: str, keys: jwt.PyJWKClient = jwks, issuer: str = PUBLIC_URL) -> dict:
    key = keys.get_signing_key_from_jwt(token)  # by the token's kid; refetched on a new one
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA", "ES256", "RS256"],
        audience="usergraph",
        issuer=issuer,
    )
