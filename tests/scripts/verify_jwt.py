#!/usr/bin/python3
"""Verifies a ticketq admission token against a JWKS with implementations
that share no code with ticketq: Debian's python3-cryptography (Ed25519, by
hand: split, base64url, kid lookup, RFC 7638 thumbprint, signature) and PyJWT
(python3-jwt: what a booking service would use). Both must accept it. A user
token (alg HS256, verifiable by ticketq alone) is refused: "alg 'HS256' is
not EdDSA".

    /usr/bin/python3 -I tests/scripts/verify_jwt.py JWKS_FILE TOKEN_FILE \
        [--audience booking] [--issuer ticketq]

Prints {"kid": ..., "verified_by": [...], "claims": {...}} and exits 0 when
both accept the token; prints "refused: why" to stderr and exits 1 when
either refuses it; exits 3 when a module is missing (scripts/setup.sh
installs them). Run it with Debian's /usr/bin/python3: another python3
first on PATH does not see Debian's packages.
"""
import argparse
import base64
import hashlib
import json
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    import jwt
except ImportError as e:
    print(f"missing Python module: {e.name} (install python3-cryptography and python3-jwt, "
          f"see scripts/setup.sh; run with /usr/bin/python3)", file=sys.stderr)
    sys.exit(3)


class Refused(Exception):
    pass


def b64url_decode(text):
    if "=" in text or len(text) % 4 == 1:
        raise Refused("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise Refused(f"bad base64url: {e}")


def by_hand(token, jwks):
    """The JWS rules spelled out, with cryptography for Ed25519 alone."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("not three parts")
    header = json.loads(b64url_decode(parts[0]))
    if header.get("alg") != "EdDSA":
        raise Refused(f"alg {header.get('alg')!r} is not EdDSA")
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if len(keys) != 1:
        raise Refused("kid names no key of the JWKS")
    jwk = keys[0]
    if (jwk.get("kty"), jwk.get("crv"), jwk.get("alg"), jwk.get("use")) != (
            "OKP", "Ed25519", "EdDSA", "sig"):
        raise Refused(f"unexpected JWK members: {jwk}")
    # RFC 7638: SHA-256 of the required members, sorted, no white space.
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]},
                           sort_keys=True, separators=(",", ":"))
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest())
    if thumbprint.rstrip(b"=").decode() != jwk["kid"]:
        raise Refused("kid is not the RFC 7638 thumbprint of the key")
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    try:
        key.verify(b64url_decode(parts[2]), (parts[0] + "." + parts[1]).encode())
    except InvalidSignature:
        raise Refused("bad signature (cryptography)")
    return jwk["kid"], json.loads(b64url_decode(parts[1]))


def with_pyjwt(token, jwks, audience, issuer):
    """What a booking service would write."""
    kid = jwt.get_unverified_header(token).get("kid")
    jwk = next((k for k in jwks["keys"] if k.get("kid") == kid), None)
    if jwk is None:
        raise Refused("kid names no key of the JWKS (PyJWT)")
    key = jwt.PyJWK(jwk).key
    try:
        return jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
                          options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]})
    except jwt.InvalidTokenError as e:
        raise Refused(f"PyJWT: {type(e).__name__}: {e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jwks_file")
    ap.add_argument("token_file")
    ap.add_argument("--audience", default="booking")
    ap.add_argument("--issuer", default="ticketq")
    args = ap.parse_args()
    with open(args.jwks_file) as f:
        jwks = json.load(f)
    with open(args.token_file) as f:
        token = f.read().strip()
    try:
        kid, claims = by_hand(token, jwks)
        if with_pyjwt(token, jwks, args.audience, args.issuer) != claims:
            raise Refused("PyJWT and the hand check read different claims")
    except (Refused, ValueError) as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"kid": kid, "verified_by": ["cryptography", "pyjwt"], "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
