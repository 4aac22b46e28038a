//! Erasure, a building block of `deleteMe(erase: true)` and `eraseUser`:
//! a person's data goes, in the caller's transaction, under the user's
//! lock. The row stays, emptied (its id, its times, `erased_at`), so the
//! audit events that name it still join; its username and email are
//! freed. What else held the person's values is emptied too: audit
//! events about or by them (their values replaced, their address and
//! browser dropped), mail to them in the outbox (deleted) and webhook
//! messages still queued or kept (their values replaced).

use std::collections::BTreeSet;

use entity::{
    account_token, api_key, audit_event, external_identity, outbox, passkey_challenge,
    recovery_code, session, sign_in_code, totp_factor, user,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use serde_json::Value;

use super::{now, users};
use crate::error::Result;

/// What stands where an erased value was.
pub const ERASED: &str = "[erased]";

/// The fields of a user's audit changes that hold the person's values.
const PERSONAL_FIELDS: [&str; 17] = [
    "email",
    "username",
    "name",
    "displayName",
    "firstName",
    "lastName",
    "avatarUrl",
    "website",
    "facebook",
    "instagram",
    "linkedin",
    "x",
    "youtube",
    "metadata",
    "appMetadata",
    "locale",
    "externalId",
];

/// Erases `user` (locked by the caller); the emptied row.
pub async fn erase(conn: &impl ConnectionTrait, user: user::Model) -> Result<user::Model> {
    let id = user.id;
    // The addresses mail may have gone to: the account's, and a new one
    // an email change was waiting to confirm.
    let mut addresses: BTreeSet<String> = account_token::Entity::find()
        .filter(account_token::Column::UserId.eq(id))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| t.address)
        .collect();
    addresses.insert(user.email.clone());
    let mut values = personal_values(&user);
    values.extend(addresses.iter().cloned());
    let ts = now();
    let placeholder = id.simple().to_string();
    let mut model = users::changes(&user);
    // `~` is no username character, so no one ever chooses it; the id's
    // random tail keeps it unique within the column's 20 characters.
    model.username = Set(format!("~{}", &placeholder[13..]));
    model.email = Set(format!("{placeholder}@erased.invalid"));
    for column in [
        &mut model.display_name,
        &mut model.first_name,
        &mut model.last_name,
        &mut model.avatar_url,
        &mut model.website,
        &mut model.facebook,
        &mut model.instagram,
        &mut model.linkedin,
        &mut model.x,
        &mut model.youtube,
        &mut model.locale,
        &mut model.external_id,
    ] {
        *column = Set(None);
    }
    model.metadata = Set(Value::Object(Default::default()));
    model.app_metadata = Set(Value::Object(Default::default()));
    model.password_hash = Set(String::new());
    model.has_password = Set(false);
    model.email_verified_at = Set(None);
    model.mfa_enabled = Set(false);
    model.status = Set(user::Status::Inactive);
    model.deleted_at = Set(Some(user.deleted_at.unwrap_or(ts)));
    model.erased_at = Set(Some(ts));
    let erased = users::save_locked(conn, user.clone(), model).await?;

    // What the person set up or left behind.
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    api_key::Entity::delete_many()
        .filter(api_key::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    totp_factor::Entity::delete_by_id(id).exec(conn).await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    external_identity::Entity::delete_many()
        .filter(external_identity::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    super::credentials::passkey::remove_all(conn, id).await?;
    passkey_challenge::Entity::delete_many()
        .filter(passkey_challenge::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    account_token::Entity::delete_many()
        .filter(account_token::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    // Their organisations lose them (an organisation they alone owned is
    // left to a superuser), and invitations to their addresses end.
    entity::membership::Entity::delete_many()
        .filter(entity::membership::Column::UserId.eq(id))
        .exec(conn)
        .await?;
    entity::organization_invitation::Entity::delete_many()
        .filter(entity::organization_invitation::Column::Email.is_in(addresses.iter().cloned()))
        .exec(conn)
        .await?;
    sign_in_code::Entity::delete_many()
        .filter(
            Condition::any()
                .add(sign_in_code::Column::UserId.eq(id))
                .add(sign_in_code::Column::Email.eq(user.email.as_str())),
        )
        .exec(conn)
        .await?;

    // Mail to the person, sent or not.
    outbox::Entity::delete_many()
        .filter(outbox::Column::Recipient.is_in(addresses.iter().cloned()))
        .exec(conn)
        .await?;
    // Webhook messages (queued, or kept after delivery) about or by the
    // person, or carrying one of their values.
    let public_id = crate::ids::user(id);
    for message in outbox::Entity::find()
        .filter(outbox::Column::Recipient.is_not_in(addresses.iter().cloned()))
        .filter(
            text_holds_any(outbox::Column::Payload, &values)
                .add(outbox::Column::Payload.contains(&public_id)),
        )
        .all(conn)
        .await?
    {
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Payload,
                Expr::value(scrub_message(&message.payload, &values, &public_id)),
            )
            .filter(outbox::Column::Id.eq(message.id))
            .exec(conn)
            .await?;
    }

    // The audit trail keeps what happened, not who the person was.
    let events = audit_event::Entity::find()
        .filter(
            Condition::any()
                .add(audit_event::Column::TargetId.eq(id))
                .add(audit_event::Column::ActorId.eq(id))
                .add(text_holds_any(audit_event::Column::Changes, &values)),
        )
        .all(conn)
        .await?;
    for event in events {
        let about = event.target_id == Some(id);
        let by = event.actor_id == Some(id);
        let changes = event
            .changes
            .as_deref()
            .map(|text| scrub_changes(text, &values, about));
        audit_event::Entity::update_many()
            .col_expr(audit_event::Column::Changes, Expr::value(changes))
            .col_expr(
                audit_event::Column::Ip,
                Expr::value(if by { None } else { event.ip }),
            )
            .col_expr(
                audit_event::Column::UserAgent,
                Expr::value(if by { None } else { event.user_agent }),
            )
            .filter(audit_event::Column::Id.eq(event.id))
            .exec(conn)
            .await?;
    }
    Ok(erased)
}

/// The person's own values: what must not be found anywhere afterwards.
fn personal_values(user: &user::Model) -> BTreeSet<String> {
    [
        Some(&user.email),
        Some(&user.username),
        user.display_name.as_ref(),
        user.first_name.as_ref(),
        user.last_name.as_ref(),
        user.avatar_url.as_ref(),
        user.website.as_ref(),
        user.facebook.as_ref(),
        user.instagram.as_ref(),
        user.linkedin.as_ref(),
        user.x.as_ref(),
        user.youtube.as_ref(),
        user.external_id.as_ref(),
    ]
    .into_iter()
    .flatten()
    // A value of one or two characters (a first name "Al") is too common
    // to hunt through other people's records; it goes with the fields.
    .filter(|value| value.chars().count() > 2)
    .cloned()
    .collect()
}

/// Rows whose `column` holds one of `values` as a JSON string.
fn text_holds_any(column: impl ColumnTrait, values: &BTreeSet<String>) -> Condition {
    values.iter().fold(Condition::any(), |cond, value| {
        let quoted = serde_json::to_string(value).unwrap_or_default();
        cond.add(column.contains(quoted))
    })
}

/// `text` (JSON) with every string equal to one of `values` replaced.
fn scrub_text(text: &str, values: &BTreeSet<String>) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut json) => {
            scrub_value(&mut json, values, false);
            json.to_string()
        }
        Err(_) => values.iter().fold(text.to_owned(), |text, value| {
            text.replace(value.as_str(), ERASED)
        }),
    }
}

/// A queued webhook message: its event as the audit trail's is scrubbed
/// (every personal field of an event about the person; the address and
/// browser of one by them), the person's values anywhere else.
fn scrub_message(text: &str, values: &BTreeSet<String>, public_id: &str) -> String {
    let Ok(mut json) = serde_json::from_str::<Value>(text) else {
        return scrub_text(text, values);
    };
    let event = &mut json["body"]["data"];
    if event.is_object() {
        let about = event["targetId"] == public_id;
        if event["actorId"] == public_id {
            event["ip"] = Value::Null;
            event["userAgent"] = Value::Null;
        }
        scrub_value(&mut event["changes"], values, about);
    }
    scrub_value(&mut json, values, false);
    json.to_string()
}

/// An audit event's changes: the person's values replaced wherever they
/// stand, and, on an event about the person, every personal field.
fn scrub_changes(text: &str, values: &BTreeSet<String>, about: bool) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut json) => {
            scrub_value(&mut json, values, about);
            json.to_string()
        }
        Err(_) => scrub_text(text, values),
    }
}

fn scrub_value(json: &mut Value, values: &BTreeSet<String>, fields_too: bool) {
    match json {
        Value::String(s) if values.contains(s.as_str()) => *s = ERASED.to_owned(),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| scrub_value(item, values, fields_too)),
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if fields_too && PERSONAL_FIELDS.contains(&key.as_str()) && !value.is_null() {
                    *value = erased_field(value);
                } else {
                    scrub_value(value, values, fields_too);
                }
            }
        }
        _ => {}
    }
}

/// A personal field's change (`{ old, new }`) or value, erased.
fn erased_field(value: &Value) -> Value {
    match value {
        Value::Object(change) if change.contains_key("old") || change.contains_key("new") => {
            let side = |v: Option<&Value>| match v {
                None | Some(Value::Null) => Value::Null,
                Some(_) => Value::String(ERASED.into()),
            };
            serde_json::json!({ "old": side(change.get("old")), "new": side(change.get("new")) })
        }
        _ => Value::String(ERASED.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_personal_fields_are_replaced_and_nothing_else() {
        let values: BTreeSet<String> = ["ann@example.com".to_owned(), "annie".to_owned()].into();
        let about = r#"{"email":{"old":null,"new":"ann@example.com"},"status":{"old":"active","new":"suspended"},"firstName":{"old":"Ann","new":null},"note":"annie did it"}"#;
        let scrubbed: Value = serde_json::from_str(&scrub_changes(about, &values, true)).unwrap();
        assert_eq!(
            scrubbed["email"],
            serde_json::json!({ "old": null, "new": ERASED })
        );
        assert_eq!(
            scrubbed["firstName"],
            serde_json::json!({ "old": ERASED, "new": null })
        );
        assert_eq!(scrubbed["status"]["new"], "suspended");
        assert_eq!(
            scrubbed["note"], "annie did it",
            "only whole values are the person's"
        );
        let elsewhere = r#"{"data":{"changes":{"email":{"new":"ann@example.com"}},"by":"annie"}}"#;
        let scrubbed = scrub_text(elsewhere, &values);
        assert!(!scrubbed.contains("ann@example.com") && !scrubbed.contains("\"annie\""));
    }
}
