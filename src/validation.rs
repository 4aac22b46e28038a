//! Input rules of the contract's "Validation" section. Each function returns
//! the normalised value or a `BAD_USER_INPUT` error naming the GraphQL field.

use crate::error::{AppError, Result};

pub const USERNAME_MIN: usize = 2;
pub const USERNAME_MAX: usize = 20;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const PERSON_NAME_MAX: usize = 64;
pub const DISPLAY_NAME_MAX: usize = 128;
pub const URL_MAX: usize = 255;

/// Trimmed, lower-case, 2–20 of `[a-z0-9_.-]`.
pub fn username(raw: &str) -> Result<String> {
    let value = raw.trim().to_lowercase();
    let len = value.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(AppError::bad_input(
            "username",
            format!("username must be {USERNAME_MIN} to {USERNAME_MAX} characters"),
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
    {
        return Err(AppError::bad_input(
            "username",
            "username may contain only letters a-z, digits, '_', '.' and '-'",
        ));
    }
    Ok(value)
}

/// Trimmed and lower-case; a single `@` between a local part and a dotted
/// domain, both ASCII. The local part is a dot-atom (RFC 5322's `atext`
/// between single dots): quoted local parts and comments are refused, as one
/// mailbox has countless quoted spellings that would each count as a new
/// address (for uniqueness and for the mail budget), and a mail server
/// delivers them all to the same place. An internationalised domain is
/// written in its `xn--` form.
pub fn email(raw: &str) -> Result<String> {
    let value = raw.trim().to_lowercase();
    let invalid = || AppError::bad_input("email", "email is not a valid address");
    if value.chars().count() > EMAIL_MAX {
        return Err(AppError::bad_input(
            "email",
            format!("email must be at most {EMAIL_MAX} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid());
    }
    if !value.is_ascii() {
        return Err(AppError::bad_input(
            "email",
            "email must be an ASCII address (write an internationalised domain in its xn-- form)",
        ));
    }
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(invalid());
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
    {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) || labels.last().unwrap().len() < 2 {
        return Err(invalid());
    }
    Ok(value)
}

/// 8–128 code points, not common or easily guessed, and not containing the
/// username or the email's local part. Never trimmed or case-folded.
pub fn password(raw: &str, field: &'static str, username: &str, email: &str) -> Result<()> {
    let len = raw.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(AppError::bad_input(
            field,
            format!("password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
        ));
    }
    let folded = fold(raw);
    let local = email.split('@').next().unwrap_or_default();
    // Two-character usernames would forbid too many ordinary passwords.
    for part in [username, local] {
        if part.chars().count() >= 3 && folded.contains(&fold(part)) {
            return Err(AppError::bad_input(
                field,
                "password must not contain your username or email address",
            ));
        }
    }
    // zxcvbn ships the common-password and dictionary frequency lists in the
    // binary; a score below 2 means fewer than ~10^6 guesses.
    if zxcvbn::zxcvbn(raw, &[username, local]).score() < zxcvbn::Score::Two {
        return Err(AppError::bad_input(
            field,
            "password is too common or too easy to guess; choose a longer or less predictable one",
        ));
    }
    Ok(())
}

/// `raw` as it looks, for comparing look-alikes: compatibility forms folded
/// (NFKC: fullwidth `ａ` is `a`), lower-cased, mapped to the UTS #39 skeleton
/// (Cyrillic `а` is Latin `a`) and stripped of combining marks (the Turkish
/// `İ` lower-cases to `i` and a dot above).
fn fold(raw: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    let lowered = raw.nfkc().collect::<String>().to_lowercase();
    unicode_security::skeleton(&lowered)
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// A username made from an email address's local part: what comes before
/// any `+tag`, folded to the username alphabet (other characters dropped),
/// cut to leave room for a number on collision, and padded to the minimum.
pub fn username_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let local = local.split('+').next().unwrap_or_default();
    let mut base: String = local
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(*c))
        .take(USERNAME_MAX - 4)
        .collect();
    while base.chars().count() < USERNAME_MIN {
        base.push_str("user");
    }
    base
}

/// A value to look a user up by (a login, a username): trimmed and
/// lower-cased, or `None` when it holds a control character, which no stored
/// username or email has, so the lookup is no match without a query (and
/// PostgreSQL never sees a NUL byte, which it refuses in text).
pub fn lookup_key(raw: &str) -> Option<String> {
    let key = raw.trim().to_lowercase();
    (!key.chars().any(char::is_control)).then_some(key)
}

/// The longest text a filter takes: longer than any stored value it could
/// match (a user's whole search text is at most ~530 characters of which a
/// term matches a part), and short enough that the database's pattern
/// matcher never refuses it.
pub const FILTER_TEXT_MAX: usize = 256;

/// An optional search term or name to filter by: `BAD_USER_INPUT` on `field`
/// when it holds a control character, which nothing stored contains, or is
/// longer than `FILTER_TEXT_MAX`.
pub fn filter_text(raw: Option<&str>, field: &'static str) -> Result<()> {
    let Some(value) = raw else {
        return Ok(());
    };
    if value.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    if value.chars().count() > FILTER_TEXT_MAX {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {FILTER_TEXT_MAX} characters"),
        ));
    }
    Ok(())
}

/// An optional free-text name: trimmed, empty means none, at most `max` characters.
pub fn optional_text(raw: Option<&str>, field: &'static str, max: usize) -> Result<Option<String>> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// The explicit bidirectional formatting characters (embeddings, overrides,
/// isolates), which make text display in another order than it is stored:
/// a name could read as something else in mail or in an admin's list.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// An optional `http`/`https` URL of at most 255 characters.
pub fn optional_url(raw: Option<&str>, field: &'static str) -> Result<Option<String>> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    if value.chars().count() > URL_MAX {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {URL_MAX} characters"),
        ));
    }
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(value.to_owned()))
        }
        _ => Err(AppError::bad_input(
            field,
            format!("{field} must be an http or https URL"),
        )),
    }
}

/// The most a `metadata` or `appMetadata` object may hold, as compact JSON.
pub const METADATA_MAX_BYTES: usize = 8 * 1024;

/// How deep a metadata value may nest: deeper JSON cannot be read back
/// (serde_json stops at 128 levels) and no profile needs it.
pub const METADATA_MAX_DEPTH: usize = 32;

/// A metadata object as stored: a JSON object whose top-level keys have
/// 1–255 characters, nesting at most `METADATA_MAX_DEPTH` levels, with no
/// control character in any key or string (nothing stored holds one, and
/// PostgreSQL's `jsonb` refuses NUL), of at most `METADATA_MAX_BYTES` as
/// compact JSON; else `BAD_USER_INPUT` on `field`. The bound keeps a user's
/// row (read on every page that selects it) small.
pub fn metadata(
    value: serde_json::Value,
    field: &'static str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let serde_json::Value::Object(object) = value else {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be a JSON object"),
        ));
    };
    if object
        .keys()
        .any(|k| k.is_empty() || k.chars().count() > 255)
    {
        return Err(AppError::bad_input(
            field,
            format!("{field}'s keys have 1-255 characters"),
        ));
    }
    json_value(&serde_json::Value::Object(object.clone()), field)?;
    let size = serde_json::to_vec(&object).map_or(usize::MAX, |v| v.len());
    if size > METADATA_MAX_BYTES {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {METADATA_MAX_BYTES} bytes as JSON (it is {size})"),
        ));
    }
    Ok(object)
}

/// A JSON value to store or compare: at most `METADATA_MAX_DEPTH` levels,
/// no control character in a key or string; else `BAD_USER_INPUT` on `field`.
pub fn json_value(value: &serde_json::Value, field: &'static str) -> Result<()> {
    // Iterative, so a deep value cannot exhaust the stack while checked.
    let mut pending = vec![(value, 1usize)];
    while let Some((value, depth)) = pending.pop() {
        if depth > METADATA_MAX_DEPTH {
            return Err(AppError::bad_input(
                field,
                format!("{field} nests at most {METADATA_MAX_DEPTH} levels"),
            ));
        }
        let control = |s: &str| s.chars().any(char::is_control);
        match value {
            serde_json::Value::String(s) if control(s) => {
                return Err(AppError::bad_input(
                    field,
                    format!("{field} must not contain control characters"),
                ));
            }
            serde_json::Value::Array(items) => {
                pending.extend(items.iter().map(|v| (v, depth + 1)));
            }
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| control(k)) {
                    return Err(AppError::bad_input(
                        field,
                        format!("{field} must not contain control characters"),
                    ));
                }
                pending.extend(map.values().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A BCP 47 language tag of the common shape, `language[-Script][-REGION]`
/// (`de`, `de-AT`, `zh-Hant-TW`, `es-419`), in its canonical case.
/// `BAD_USER_INPUT` on `field` otherwise.
pub fn locale(raw: &str, field: &'static str) -> Result<String> {
    let invalid = || {
        AppError::bad_input(
            field,
            format!("{field} must be a language tag such as de, de-AT or zh-Hant-TW"),
        )
    };
    let mut parts = raw.trim().split(['-', '_']);
    let language = parts
        .next()
        .filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    let mut tag = language.ok_or_else(invalid)?.to_ascii_lowercase();
    let mut rest: Vec<&str> = parts.collect();
    if rest
        .first()
        .is_some_and(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        let script = rest.remove(0);
        tag.push('-');
        tag.push_str(&script[..1].to_ascii_uppercase());
        tag.push_str(&script[1..].to_ascii_lowercase());
    }
    match rest.as_slice() {
        [] => {}
        [region]
            if (region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic()))
                || (region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit())) =>
        {
            tag.push('-');
            tag.push_str(&region.to_ascii_uppercase());
        }
        _ => return Err(invalid()),
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(username("  Alice.B ").unwrap(), "alice.b");
        for bad in ["a", "a".repeat(21).as_str(), "al ice", "al@ice", "ålice"] {
            assert_eq!(
                username(bad).unwrap_err().field(),
                Some("username"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_may_not_reorder_their_display() {
        assert!(optional_text(Some("Ann Lee"), "name", 64).is_ok());
        for bad in ["evil\u{202E}moc.elpmaxe", "a\u{2066}b\u{2069}"] {
            assert_eq!(
                optional_text(Some(bad), "name", 64).unwrap_err().field(),
                Some("name")
            );
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email(" Bob@Example.COM ").unwrap(), "bob@example.com");
        for good in [
            "a.b+tag@x.io",
            "o'neil@x.io",
            "x_y-z@sub.xn--bcher-kva.example",
        ] {
            assert!(email(good).is_ok(), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "bob",
            "bob@",
            "@x.io",
            "bob@localhost",
            "b ob@x.io",
            "bob@x@y.io",
            "b\u{7}@x.io",
            &long,
            // One mailbox, spelt many ways: quoted, escaped, commented.
            "\"victim\"@corp.test",
            "\"\\vi\\ctim\"@corp.test",
            "fo(o)@x.io",
            "a<b@x.io",
            "x,y@x.io",
            "a;b@x.io",
            ".a@x.io",
            "a..b@x.io",
            "ü@exämple.com",
            "a@exämple.com",
        ] {
            assert_eq!(email(bad).unwrap_err().field(), Some("email"), "{bad}");
        }
    }

    #[test]
    fn passwords_follow_length_and_guessability_rules() {
        assert!(password("tangerine-kettle-42", "password", "alice", "alice@x.io").is_ok());
        // Counted in code points, any Unicode.
        assert!(password("ключ-от-сада-42", "password", "alice", "alice@x.io").is_ok());
        for bad in [
            "short1",
            "password123",
            "12345678",
            "qwertyuiop",
            "my-alice-secret-9",
        ] {
            let err = password(bad, "password", "alice", "alice@x.io").unwrap_err();
            assert_eq!(err.field(), Some("password"), "{bad}");
        }
        assert!(password(&"x".repeat(129), "password", "alice", "alice@x.io").is_err());
    }

    #[test]
    fn look_alikes_of_the_username_are_found_in_a_password() {
        for bad in [
            "ａｄｍｉｎ-kettle-42", // fullwidth
            "аdmin-kettle-42",      // Cyrillic а
            "ADMİN-kettle-42",      // Turkish dotted capital I
            "Admin-kettle-42",
        ] {
            let err = password(bad, "password", "admin", "root@x.io").unwrap_err();
            assert!(err.to_string().contains("username"), "{bad}: {err}");
        }
        assert!(password("tangerine-kettle-42", "password", "admin", "root@x.io").is_ok());
    }

    #[test]
    fn lookups_with_control_characters_match_nothing() {
        assert_eq!(lookup_key(" Alice ").as_deref(), Some("alice"));
        assert_eq!(lookup_key("ali\0ce"), None);
        assert!(filter_text(Some("a\u{1}"), "search").is_err());
        assert!(filter_text(Some("ann"), "search").is_ok());
        assert!(optional_url(Some("https://x.io/\0"), "avatarUrl").is_err());
    }

    #[test]
    fn urls_must_be_http_and_bounded() {
        assert_eq!(
            optional_url(Some("https://example.com/a"), "website")
                .unwrap()
                .as_deref(),
            Some("https://example.com/a")
        );
        assert_eq!(optional_url(Some("  "), "website").unwrap(), None);
        for bad in ["javascript:alert(1)", "ftp://x.io", "not a url"] {
            assert!(optional_url(Some(bad), "website").is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Any input either validates or is `BAD_USER_INPUT` naming a field;
        /// nothing panics, whatever the bytes, lengths or scripts.
        #[test]
        fn any_string_validates_or_names_its_field(raw in proptest::prelude::any::<String>(), other in "\\PC{0,30}") {
            let results = [
                username(&raw).map(drop),
                email(&raw).map(drop),
                password(&raw, "password", &other, &other),
                password(&raw, "password", &raw, &raw),
                optional_text(Some(&raw), "name", DISPLAY_NAME_MAX).map(drop),
                optional_url(Some(&raw), "website").map(drop),
            ];
            for result in results {
                if let Err(err) = result {
                    proptest::prop_assert_eq!(err.code(), "BAD_USER_INPUT");
                    proptest::prop_assert!(err.field().is_some());
                }
            }
        }
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(
            optional_text(Some(" Ann "), "firstName", 64)
                .unwrap()
                .as_deref(),
            Some("Ann")
        );
        assert!(optional_text(Some(&"n".repeat(65)), "firstName", 64).is_err());
    }

    #[test]
    fn locales_are_language_tags_in_their_canonical_case() {
        for (raw, expected) in [
            ("de", "de"),
            ("DE-at", "de-AT"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es_419", "es-419"),
            (" fr ", "fr"),
        ] {
            assert_eq!(locale(raw, "locale").unwrap(), expected);
        }
        for raw in [
            "",
            "d",
            "deutsch",
            "de-",
            "de-A",
            "de-AT-x",
            "12",
            "de-Latn-AT-1996",
        ] {
            assert!(locale(raw, "locale").is_err(), "{raw}");
        }
    }
}
