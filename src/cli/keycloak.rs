//! `usergraph convert-keycloak REALM.json`: a Keycloak realm export as the
//! JSON lines `usergraph import` reads. Realm roles become roles (without
//! permissions: they are given in usergraph); Keycloak's own default roles
//! and service accounts are left out. Password credentials become PHC
//! strings usergraph verifies at the first sign-in: pbkdf2-sha256 and
//! pbkdf2-sha512 as `$pbkdf2-sha…$`, argon2 as `$argon2id$` / `$argon2i$`.
//! The `locale` attribute becomes the user's locale, the other attributes
//! metadata (a single value as a string).

use std::io::Write;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
};
use serde_json::{Map, Value};

use crate::service::imports::{CatalogueLine, Record};

/// Keycloak's own realm roles, which mean nothing in usergraph.
const KEYCLOAK_ROLES: [&str; 3] = ["default-roles-", "offline_access", "uma_authorization"];

fn own_role(name: &str) -> bool {
    !KEYCLOAK_ROLES.iter().any(|prefix| name.starts_with(prefix))
}

/// A role name as usergraph stores it: lower case, `-` for anything else.
fn role_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Keycloak's base64 as PHC's (no padding).
fn phc_b64(text: &str) -> anyhow::Result<(String, usize)> {
    let bytes = STANDARD.decode(text)?;
    Ok((STANDARD_NO_PAD.encode(&bytes), bytes.len()))
}

/// A user's password credential as a PHC string; `None` without one.
fn password_hash(credentials: Option<&Value>) -> anyhow::Result<Option<String>> {
    let Some(list) = credentials.and_then(Value::as_array) else {
        return Ok(None);
    };
    for credential in list {
        if credential["type"] != "password" {
            continue;
        }
        let secret: Value =
            serde_json::from_str(credential["secretData"].as_str().unwrap_or("{}"))?;
        let data: Value =
            serde_json::from_str(credential["credentialData"].as_str().unwrap_or("{}"))?;
        let (value, length) = phc_b64(secret["value"].as_str().unwrap_or_default())?;
        let (salt, _) = phc_b64(secret["salt"].as_str().unwrap_or_default())?;
        let iterations = data["hashIterations"].as_u64().unwrap_or_default();
        let param = |name: &str, default: &str| {
            data["additionalParameters"][name][0]
                .as_str()
                .unwrap_or(default)
                .to_owned()
        };
        return match data["algorithm"].as_str() {
            Some(algorithm @ ("pbkdf2-sha256" | "pbkdf2-sha512")) => Ok(Some(format!(
                "${algorithm}$i={iterations},l={length}${salt}${value}"
            ))),
            Some("argon2") => {
                let kind = match param("type", "id").as_str() {
                    "id" => "argon2id",
                    "i" => "argon2i",
                    other => anyhow::bail!("an argon2 credential of type {other}"),
                };
                if param("version", "1.3") != "1.3" {
                    anyhow::bail!("an argon2 credential of version {}", param("version", ""));
                }
                Ok(Some(format!(
                    "${kind}$v=19$m={},t={iterations},p={}${salt}${value}",
                    param("memory", "7168"),
                    param("parallelism", "1")
                )))
            }
            other => anyhow::bail!(
                "a password credential hashed with {}, which usergraph does not read",
                other.unwrap_or("no algorithm")
            ),
        };
    }
    Ok(None)
}

/// Writes `realm`'s roles and users as JSON lines to `out`; how many users
/// it wrote, and how many it left out (no email, or a service account).
pub fn convert(realm: &Value, out: &mut impl Write) -> anyhow::Result<(usize, usize)> {
    for role in realm["roles"]["realm"].as_array().into_iter().flatten() {
        let name = role["name"].as_str().unwrap_or_default();
        if own_role(name) {
            let line = CatalogueLine::Role {
                name: role_name(name),
                description: role["description"].as_str().map(Into::into),
                permissions: Vec::new(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        }
    }
    let (mut count, mut left_out) = (0, 0);
    for user in realm["users"].as_array().into_iter().flatten() {
        let Some(email) = user["email"].as_str() else {
            left_out += 1;
            continue;
        };
        if user.get("serviceAccountClientId").is_some() {
            left_out += 1;
            continue;
        }
        let username = user["username"].as_str().unwrap_or_default().to_lowercase();
        let mut attributes: Map<String, Value> =
            user["attributes"].as_object().cloned().unwrap_or_default();
        let locale = attributes
            .remove("locale")
            .and_then(|v| v[0].as_str().map(Into::into));
        let metadata: Map<String, Value> = attributes
            .into_iter()
            .map(|(key, values)| match values.as_array() {
                Some(list) if list.len() == 1 => (key, list[0].clone()),
                _ => (key, values),
            })
            .collect();
        let mut roles: Vec<String> = user["realmRoles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|r| own_role(r))
            .map(role_name)
            .chain(["user".to_owned()])
            .collect();
        roles.sort();
        roles.dedup();
        let record = Record {
            email: email.to_lowercase(),
            username: crate::validation::username(&username).ok(),
            first_name: user["firstName"].as_str().map(Into::into),
            last_name: user["lastName"].as_str().map(Into::into),
            // A credential usergraph cannot read leaves the user without a
            // password (a mailed code or a reset signs them in), not the
            // whole realm behind.
            password_hash: password_hash(user.get("credentials")).unwrap_or_else(|e| {
                eprintln!("user {username}: {e}: imported without a password");
                None
            }),
            status: Some(
                if user["enabled"].as_bool().unwrap_or(true) {
                    "ACTIVE"
                } else {
                    "INACTIVE"
                }
                .into(),
            ),
            email_verified: Some(user["emailVerified"].as_bool().unwrap_or(false)),
            role_names: Some(roles),
            metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
            locale,
            external_id: user["id"].as_str().map(Into::into),
            created_at: user["createdTimestamp"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis),
            ..Record::default()
        };
        writeln!(out, "{}", serde_json::to_string(&record)?)?;
        count += 1;
    }
    Ok((count, left_out))
}
