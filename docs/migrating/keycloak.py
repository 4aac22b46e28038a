#!/usr/bin/env python3
"""Keycloak realm export -> usergraph's JSON lines (standard library only).

    kc.sh export --realm acme --file realm.json   # or the admin console's partial export
    python3 keycloak.py realm.json > users.jsonl
    usergraph import users.jsonl

Realm roles become roles (without permissions: give them in usergraph);
Keycloak's own default roles are left out, and so are service accounts.
Password credentials become PHC strings usergraph verifies at the first
sign-in: pbkdf2-sha256 and pbkdf2-sha512 as $pbkdf2-sha…$, argon2 as
$argon2id$ / $argon2i$. The `locale` attribute becomes the user's locale,
the other attributes metadata (a single value as a string).
"""

import base64
import json
import re
import sys
from datetime import datetime, timezone

KEYCLOAK_ROLES = ("default-roles-", "offline_access", "uma_authorization")
USERNAME = re.compile(r"^[a-z0-9_.-]{2,20}$")


def b64(text):
    """Keycloak's base64 as PHC's (no padding)."""
    return base64.b64encode(base64.b64decode(text)).decode().rstrip("=")


def role_name(name):
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-")


def own_role(name):
    return not name.startswith(KEYCLOAK_ROLES)


def password_hash(credentials):
    for credential in credentials or []:
        if credential.get("type") != "password":
            continue
        secret = json.loads(credential["secretData"])
        data = json.loads(credential["credentialData"])
        algorithm = data.get("algorithm")
        value, salt = secret["value"], secret["salt"]
        if algorithm in ("pbkdf2-sha256", "pbkdf2-sha512"):
            length = len(base64.b64decode(value))
            return f"${algorithm}$i={data['hashIterations']},l={length}${b64(salt)}${b64(value)}"
        if algorithm == "argon2":
            params = {k: v[0] for k, v in data.get("additionalParameters", {}).items()}
            kind = {"id": "argon2id", "i": "argon2i"}.get(params.get("type", "id"))
            if kind is None or params.get("version", "1.3") != "1.3":
                raise SystemExit(f"unsupported argon2 credential: {params}")
            return (f"${kind}$v=19$m={params.get('memory', '7168')},t={data['hashIterations']},"
                    f"p={params.get('parallelism', '1')}${b64(salt)}${b64(value)}")
        raise SystemExit(f"unsupported password algorithm: {algorithm}")
    return None


def main(path):
    realm = json.load(open(path, encoding="utf-8"))
    for role in realm.get("roles", {}).get("realm", []):
        if own_role(role["name"]):
            entry = {"name": role_name(role["name"]), "permissions": []}
            if role.get("description"):
                entry["description"] = role["description"]
            print(json.dumps({"role": entry}))
    for user in realm.get("users", []):
        if user.get("serviceAccountClientId") or not user.get("email"):
            continue
        attributes = dict(user.get("attributes") or {})
        locale = (attributes.pop("locale", None) or [None])[0]
        record = {
            "email": user["email"].lower(),
            "username": user["username"].lower() if USERNAME.match(user["username"].lower()) else None,
            "firstName": user.get("firstName"),
            "lastName": user.get("lastName"),
            "passwordHash": password_hash(user.get("credentials")),
            "status": "ACTIVE" if user.get("enabled", True) else "INACTIVE",
            "emailVerified": bool(user.get("emailVerified")),
            "roleNames": sorted({role_name(r) for r in user.get("realmRoles", []) if own_role(r)} | {"user"}),
            "metadata": {k: v[0] if len(v) == 1 else v for k, v in attributes.items()} or None,
            "locale": locale,
            "externalId": user["id"],
            "createdAt": datetime.fromtimestamp(user["createdTimestamp"] / 1000, timezone.utc)
            .isoformat().replace("+00:00", "Z") if user.get("createdTimestamp") else None,
        }
        print(json.dumps({k: v for k, v in record.items() if v is not None}))


if __name__ == "__main__":
    main(sys.argv[1])
