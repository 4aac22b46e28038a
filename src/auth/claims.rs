//! The claims an access token carries for the services that read it:
//! `JWT_CLAIMS_PRESET` (Hasura's, PostGraphile's) and `JWT_CLAIMS_TEMPLATE`,
//! a JSON object whose strings are minijinja templates over the user. A
//! string that is a single `{{ expression }}` takes the expression's value
//! (a list of roles, an object), any other string its rendered text.
//! Registered claims (`jwt::REGISTERED`) cannot be set by either.

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Map, Value};

use super::jwt::REGISTERED;
use crate::config::ClaimsPreset;

/// A token's largest size: larger headers are refused by common proxies and
/// servers (8 KiB for all headers), and a token rides in one.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What templates see as `user`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSubject {
    /// The public id (`usr_…`).
    pub id: String,
    pub username: String,
    pub email: String,
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Permission names of all roles, sorted, each once.
    pub permissions: Vec<String>,
    /// The tier's name, when the user has one.
    pub tier: Option<String>,
    pub app_metadata: Value,
    /// The organisation the session acts in, when it acts in one.
    pub organization: Option<OrganizationSubject>,
}

/// What templates see as `user.organization`.
#[derive(Debug, Clone, Serialize)]
pub struct OrganizationSubject {
    /// The public id (`org_…`).
    pub id: String,
    pub slug: String,
    pub name: String,
    /// The names of the user's org roles there, sorted.
    pub roles: Vec<String>,
    /// The organisation's tier's name, when it has one.
    pub tier: Option<String>,
}

impl TokenSubject {
    /// The role an engine runs the request as: `user` when the user has it,
    /// else the first role by name, else `user`.
    fn default_role(&self) -> &str {
        if self.roles.iter().any(|r| r == "user") {
            "user"
        } else {
            self.roles.first().map_or("user", String::as_str)
        }
    }
}

/// Hasura's name for a usergraph role. Hasura's own `admin` role skips
/// every permission check, so usergraph's `admin` (a right to manage users
/// here) must never become it: it is `usergraph_admin` there.
fn hasura_role(name: &str) -> String {
    if name == "admin" {
        "usergraph_admin".to_owned()
    } else {
        name.to_owned()
    }
}

/// A token's claims beyond the registered ones.
pub struct Rendered {
    pub claims: Map<String, Value>,
    /// False when the template's claims were left out to keep the token
    /// under `MAX_TOKEN_BYTES`.
    pub fitted: bool,
}

/// `JWT_CLAIMS_PRESET` and `JWT_CLAIMS_TEMPLATE`, checked at start.
pub struct ClaimsShape {
    preset: ClaimsPreset,
    template: Option<Map<String, Value>>,
}

impl ClaimsShape {
    pub fn new(preset: ClaimsPreset, template: Option<&str>) -> anyhow::Result<Self> {
        let template = match template {
            None => None,
            Some(raw) => {
                let Value::Object(map) = serde_json::from_str::<Value>(raw)
                    .context("JWT_CLAIMS_TEMPLATE is not JSON")?
                else {
                    bail!("JWT_CLAIMS_TEMPLATE must be a JSON object of claims");
                };
                if let Some(key) = map.keys().find(|k| k.trim() != k.as_str() || k.is_empty()) {
                    bail!(
                        "JWT_CLAIMS_TEMPLATE: the claim name `{key}` is empty or has spaces around it"
                    );
                }
                if let Some(key) = map
                    .keys()
                    .find(|k| REGISTERED.contains(&k.to_ascii_lowercase().as_str()))
                {
                    bail!(
                        "JWT_CLAIMS_TEMPLATE may not set `{key}`: usergraph sets the registered claims ({})",
                        REGISTERED.join(", ")
                    );
                }
                if let Some(key) = map
                    .keys()
                    .find(|k| preset.claim_names().contains(&k.as_str()))
                {
                    bail!("JWT_CLAIMS_TEMPLATE may not set `{key}`: JWT_CLAIMS_PRESET sets it");
                }
                // Every template compiles now, so a typo stops the start.
                walk(&Value::Object(map.clone()), &mut |text| {
                    compile(text).map(|_| ())
                })?;
                Some(map)
            }
        };
        Ok(Self { preset, template })
    }

    /// Whether tokens carry claims beyond the registered ones (the service
    /// then reads the user's roles and tier to issue one).
    pub fn is_empty(&self) -> bool {
        self.preset == ClaimsPreset::None && self.template.is_none()
    }

    /// The claims for `subject`: the preset's, and the template's unless
    /// together they would pass `MAX_TOKEN_BYTES` or the template fails on
    /// this user's values (then the template's are left out, and `fitted`
    /// is false).
    pub fn render(&self, subject: &TokenSubject) -> anyhow::Result<Rendered> {
        let preset = self.preset_claims(subject);
        let mut all = preset.clone();
        // A template that compiled may still fail on one user's values (a
        // sum over a string): that user's token goes without its claims.
        match self.template_claims(subject) {
            Ok(claims) => all.extend(claims),
            Err(err) => {
                tracing::error!(error = %err, "JWT_CLAIMS_TEMPLATE does not render for this user");
                return Ok(Rendered {
                    claims: preset,
                    fitted: false,
                });
            }
        }
        Ok(if fits(&all) {
            Rendered {
                claims: all,
                fitted: true,
            }
        } else {
            Rendered {
                claims: preset,
                fitted: false,
            }
        })
    }

    fn preset_claims(&self, subject: &TokenSubject) -> Map<String, Value> {
        let mut claims = Map::new();
        match self.preset {
            ClaimsPreset::None => {}
            ClaimsPreset::Hasura => {
                let allowed: Vec<String> = if subject.roles.is_empty() {
                    vec!["user".to_owned()]
                } else {
                    subject.roles.iter().map(|r| hasura_role(r)).collect()
                };
                claims.insert(
                    "https://hasura.io/jwt/claims".into(),
                    serde_json::json!({
                        "x-hasura-user-id": subject.id,
                        "x-hasura-default-role": hasura_role(subject.default_role()),
                        "x-hasura-allowed-roles": allowed,
                    }),
                );
            }
            ClaimsPreset::Postgraphile => {
                claims.insert("role".into(), subject.default_role().into());
                claims.insert("user_id".into(), subject.id.clone().into());
            }
        }
        claims
    }

    fn template_claims(&self, subject: &TokenSubject) -> anyhow::Result<Map<String, Value>> {
        let Some(template) = &self.template else {
            return Ok(Map::new());
        };
        let context = minijinja::context! { user => subject };
        template
            .iter()
            .map(|(key, value)| Ok((key.clone(), fill(value, &context)?)))
            .collect()
    }

    /// Refuses a shape whose token could pass `MAX_TOKEN_BYTES` for
    /// `largest`, the largest user the input rules allow (the service makes
    /// it). `appMetadata` has no useful bound (8 KiB), so its stand-in reads
    /// every key as a 256-character string; a larger token at sign-in drops
    /// the template's claims (`fits`).
    pub fn check_size(&self, largest: &TokenSubject) -> anyhow::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let mut claims = self.preset_claims(largest);
        claims.extend(
            self.template_claims(largest)
                .context("JWT_CLAIMS_TEMPLATE does not render")?,
        );
        let size = estimated_token_bytes(&claims);
        if size > MAX_TOKEN_BYTES {
            bail!(
                "JWT_CLAIMS_PRESET and JWT_CLAIMS_TEMPLATE can make a token of {size} bytes for the largest user (more than {MAX_TOKEN_BYTES}): claim less"
            );
        }
        Ok(())
    }
}

/// Roles counted in the size check; a user with more gets a token without
/// the template's claims if it would pass the limit.
pub const MAX_ROLES_MEASURED: usize = 8;

/// Whether a token with these extra claims stays under `MAX_TOKEN_BYTES`.
pub fn fits(claims: &Map<String, Value>) -> bool {
    estimated_token_bytes(claims) <= MAX_TOKEN_BYTES
}

/// The size of an RS256 token (the largest signature) with these claims and
/// the registered ones at their longest.
fn estimated_token_bytes(claims: &Map<String, Value>) -> usize {
    let extra = serde_json::to_vec(claims).map_or(usize::MAX, |v| v.len());
    let registered = 400; // sub, sid, iat, exp, iss (a long PUBLIC_URL), aud
    let header = 120;
    let signature = 342; // 256 bytes in base64url
    (header + registered + extra) * 4 / 3 + signature + 2
}

/// Stands in for `appMetadata` in the size check: any key reads as a
/// 256-character string.
pub struct LargeMetadata;

impl LargeMetadata {
    pub fn value() -> Value {
        let mut map = Map::new();
        for key in [
            "tenant", "plan", "org", "team", "id", "role", "groups", "scopes",
        ] {
            map.insert(key.into(), Value::String("m".repeat(256)));
        }
        Value::Object(map)
    }
}

fn compile(text: &str) -> anyhow::Result<Filled> {
    let env = environment();
    match single_expression(text) {
        Some(expression) => {
            env.compile_expression(expression)
                .with_context(|| format!("JWT_CLAIMS_TEMPLATE: `{text}` does not parse"))?;
            Ok(Filled::Expression(expression.to_owned()))
        }
        None => {
            env.template_from_str(text)
                .with_context(|| format!("JWT_CLAIMS_TEMPLATE: `{text}` does not parse"))?;
            Ok(Filled::Text(text.to_owned()))
        }
    }
}

enum Filled {
    Expression(String),
    Text(String),
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env
}

/// The expression of a string that is exactly one `{{ … }}`.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Calls `each` on every string of a JSON value.
fn walk(value: &Value, each: &mut impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    match value {
        Value::String(text) => each(text),
        Value::Array(items) => items.iter().try_for_each(|item| walk(item, each)),
        Value::Object(map) => map.values().try_for_each(|item| walk(item, each)),
        _ => Ok(()),
    }
}

/// `value` with every string filled in over `context`.
fn fill(value: &Value, context: &minijinja::Value) -> anyhow::Result<Value> {
    Ok(match value {
        Value::String(text) => {
            let env = environment();
            match compile(text)? {
                Filled::Expression(expression) => {
                    let result = env.compile_expression(&expression)?.eval(context)?;
                    if result.is_undefined() || result.is_none() {
                        Value::Null
                    } else {
                        serde_json::to_value(&result)?
                    }
                }
                Filled::Text(template) => {
                    Value::String(env.template_from_str(&template)?.render(context)?)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| fill(item, context))
                .collect::<anyhow::Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), fill(item, context)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> TokenSubject {
        TokenSubject {
            id: "usr_ada".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            roles: vec!["admin".into(), "user".into()],
            permissions: vec!["users:read".into()],
            tier: Some("gold".into()),
            app_metadata: serde_json::json!({ "tenant": "acme", "seats": 5 }),
            organization: None,
        }
    }

    #[test]
    fn the_hasura_preset_names_the_user_and_their_roles() {
        let claims = ClaimsShape::new(ClaimsPreset::Hasura, None)
            .unwrap()
            .render(&ada())
            .unwrap()
            .claims;
        // usergraph's admin is never Hasura's admin, which skips every check.
        assert_eq!(
            claims["https://hasura.io/jwt/claims"],
            serde_json::json!({
                "x-hasura-user-id": "usr_ada",
                "x-hasura-default-role": "user",
                "x-hasura-allowed-roles": ["usergraph_admin", "user"],
            })
        );
        let only_admin = TokenSubject {
            roles: vec!["admin".into()],
            ..ada()
        };
        let claims = ClaimsShape::new(ClaimsPreset::Hasura, None)
            .unwrap()
            .render(&only_admin)
            .unwrap()
            .claims;
        assert_eq!(
            claims["https://hasura.io/jwt/claims"]["x-hasura-default-role"],
            "usergraph_admin"
        );
    }

    #[test]
    fn the_postgraphile_preset_sets_role_and_user_id() {
        let claims = ClaimsShape::new(ClaimsPreset::Postgraphile, None)
            .unwrap()
            .render(&ada())
            .unwrap()
            .claims;
        assert_eq!(claims["role"], "user");
        assert_eq!(claims["user_id"], "usr_ada");
    }

    #[test]
    fn a_template_keeps_values_and_renders_text() {
        let shape = ClaimsShape::new(
            ClaimsPreset::None,
            Some(r#"{"tenant": "{{ user.appMetadata.tenant }}", "roles": "{{ user.roles }}", "label": "{{ user.username }} of {{ user.tier }}", "seats": "{{ user.appMetadata.seats }}", "missing": "{{ user.appMetadata.nope }}", "fixed": 3}"#),
        )
        .unwrap();
        let claims = shape.render(&ada()).unwrap().claims;
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["roles"], serde_json::json!(["admin", "user"]));
        assert_eq!(claims["label"], "ada of gold");
        assert_eq!(claims["seats"], 5);
        assert_eq!(claims["missing"], Value::Null);
        assert_eq!(claims["fixed"], 3);
    }

    #[test]
    fn a_template_may_not_set_registered_claims_nor_fail_to_parse() {
        for (template, expected) in [
            (r#"{"sub": "x"}"#, "may not set `sub`"),
            (r#"{"exp": 1}"#, "may not set `exp`"),
            (r#"{"Sub": "x"}"#, "may not set `Sub`"),
            (r#"{"iss ": "x"}"#, "spaces around it"),
            (r#"{"": "x"}"#, "is empty"),
            (r#"["x"]"#, "JSON object"),
            ("{nope", "not JSON"),
            (r#"{"a": "{{ user.username "}"#, "does not parse"),
        ] {
            let err = ClaimsShape::new(ClaimsPreset::None, Some(template))
                .err()
                .unwrap_or_else(|| panic!("{template} was accepted"));
            assert!(format!("{err:#}").contains(expected), "{template}: {err:#}");
        }
    }

    #[test]
    fn a_template_may_not_replace_the_presets_claims() {
        let err = ClaimsShape::new(ClaimsPreset::Postgraphile, Some(r#"{"role": "admin"}"#))
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("JWT_CLAIMS_PRESET sets it"),
            "{err:#}"
        );
    }

    #[test]
    fn a_template_failing_on_one_users_values_leaves_only_its_claims_out() {
        let shape = ClaimsShape::new(
            ClaimsPreset::Postgraphile,
            Some(r#"{"seats": "{{ (user.appMetadata.seats or 0) + 1 }}"}"#),
        )
        .unwrap();
        let odd = TokenSubject {
            app_metadata: serde_json::json!({ "seats": "many" }),
            ..ada()
        };
        let rendered = shape.render(&odd).unwrap();
        assert!(!rendered.fitted);
        assert_eq!(rendered.claims["role"], "user");
        assert_eq!(shape.render(&ada()).unwrap().claims["seats"], 6);
    }

    #[test]
    fn a_user_too_large_for_the_template_keeps_the_presets_claims() {
        let shape = ClaimsShape::new(
            ClaimsPreset::Postgraphile,
            Some(r#"{"everything": "{{ user.appMetadata }}"}"#),
        )
        .unwrap();
        let huge = TokenSubject {
            app_metadata: serde_json::json!({ "blob": "m".repeat(6000) }),
            ..ada()
        };
        let rendered = shape.render(&huge).unwrap();
        assert!(!rendered.fitted);
        assert_eq!(rendered.claims["role"], "user");
        assert!(!rendered.claims.contains_key("everything"));
        assert!(shape.render(&ada()).unwrap().fitted);
    }

    fn largest() -> TokenSubject {
        TokenSubject {
            id: format!("usr_{}", "w".repeat(32)),
            username: "w".repeat(20),
            email: "w".repeat(254),
            roles: (0..MAX_ROLES_MEASURED)
                .map(|i| format!("{i:02}{}", "w".repeat(62)))
                .collect(),
            permissions: vec!["users:read".into(); 6],
            tier: Some("w".repeat(64)),
            app_metadata: LargeMetadata::value(),
            organization: None,
        }
    }

    #[test]
    fn a_template_that_can_pass_four_kibibytes_is_refused() {
        let too_much = ClaimsShape::new(
            ClaimsPreset::None,
            Some(r#"{"everything": "{{ user.appMetadata }}", "perms": "{{ user.permissions }}", "roles": "{{ user.roles }}"}"#),
        )
        .unwrap();
        let err = too_much.check_size(&largest()).err().unwrap();
        assert!(format!("{err:#}").contains("more than 4096"), "{err:#}");
        let modest = ClaimsShape::new(
            ClaimsPreset::Hasura,
            Some(r#"{"tenant": "{{ user.appMetadata.tenant }}", "email": "{{ user.email }}"}"#),
        )
        .unwrap();
        assert!(modest.check_size(&largest()).is_ok());
    }
}
