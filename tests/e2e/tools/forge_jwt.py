#!/usr/bin/python3
"""tests/e2e/tools/forge_jwt.py: mint, tamper and read JWTs with an independent library (PyJWT).

The e2e tests (tests/e2e/auth_test.c, authz_matrix_test.c) call this through popen() with
/usr/bin/python3, which has Debian's python3-jwt (PyJWT 2.6). Nothing here trusts cityd's code:
a token minted here and accepted by cityd shows the format is interoperable, a forged one that is
accepted is a hole.

Usage (one token or JSON document on stdout, exit status 0; anything else is a harness error):
  forge_jwt.py sign SPEC          SPEC is a JSON object:
      "key_file":  path of the raw HS secret (the server's jwt.key)
      "key":       "file" (default) | "random" (a different 48-byte secret)
      "alg":       "HS256" (default) | "HS384" | "HS512" | "none"
      "kid":       absent: first 16 hex digits of sha256(secret); null: no kid; or a string
      "header":    extra header fields (merged last, so it can override typ)
      "payload":   the claims, used as given
      "sig_from":  for alg none only: append the HS256 signature computed with the key over
                   the header and payload anyway (a verifier that ignores alg would accept it)
      "raw_header": build the token by hand with exactly this header object (PyJWT refuses
                   unknown algorithms such as "None"), signed HMAC-SHA256 with the key
  forge_jwt.py tamper TOKEN PATCH header.payload.signature: the payload's claims are updated
                                  with PATCH (a JSON object), header and signature are kept
  forge_jwt.py decode TOKEN       the payload as JSON, without verifying anything
  forge_jwt.py kid KEY_FILE       the kid cityd derives for a secret
"""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid_of(secret):
    return hashlib.sha256(secret).hexdigest()[:16]


def read_key(path):
    with open(path, "rb") as f:
        return f.read()


def sign(spec):
    secret = read_key(spec["key_file"]) if spec.get("key_file") else None
    if spec.get("key", "file") == "random":
        secret = os.urandom(48)
    if secret is None:
        raise SystemExit("forge_jwt: sign needs key_file or key=random")
    if "raw_header" in spec:
        signing_input = (
            b64url(json.dumps(spec["raw_header"], separators=(",", ":")).encode("utf-8"))
            + "."
            + b64url(json.dumps(spec.get("payload", {}), separators=(",", ":")).encode("utf-8"))
        )
        sig = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return signing_input + "." + b64url(sig)
    alg = spec.get("alg", "HS256")
    header = {}
    if "kid" not in spec:
        header["kid"] = kid_of(read_key(spec["key_file"]))
    elif spec["kid"] is not None:
        header["kid"] = spec["kid"]
    header.update(spec.get("header", {}))
    payload = spec.get("payload", {})
    if alg == "none":
        token = jwt.encode(payload, None, algorithm="none", headers=header)
        if spec.get("sig_from"):
            signing_input = token.rstrip(".").encode("ascii")
            token += b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
        return token
    return jwt.encode(payload, secret, algorithm=alg, headers=header)


def tamper(token, patch):
    head, body, sig = token.split(".")
    claims = json.loads(unb64url(body))
    claims.update(patch)
    body = b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return ".".join((head, body, sig))


def main(argv):
    if len(argv) == 3 and argv[1] == "sign":
        print(sign(json.loads(argv[2])))
    elif len(argv) == 4 and argv[1] == "tamper":
        print(tamper(argv[2], json.loads(argv[3])))
    elif len(argv) == 3 and argv[1] == "decode":
        print(json.dumps(json.loads(unb64url(argv[2].split(".")[1])), separators=(",", ":")))
    elif len(argv) == 3 and argv[1] == "kid":
        print(kid_of(read_key(argv[2])))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
