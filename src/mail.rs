//! Mail: the messages the service sends, their templates (text and HTML, in
//! `templates/mail`, compiled into the binary), the transports (`log` for
//! development, SMTP through lettre's pooled transport).

use std::{sync::LazyLock, time::Duration};

use anyhow::Context as _;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::client::{Tls, TlsParameters},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{MailConfig, MailTransport};

/// How a mail's link works: the page it opens (a `MailConfig` URL with
/// `{token}` in it), how long its token lives, and whether a later password
/// change ends it.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub page: fn(&MailConfig) -> &str,
    pub lifetime: fn(&MailConfig) -> Duration,
    pub dies_with_password_change: bool,
}

macro_rules! mail_kinds {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal
            $(=> { page: $page:ident, lifetime: $lifetime:ident, dies_with_password_change: $dies:literal })?;
    )+) => {
        /// The mails the service sends: `templates/mail/{name}.txt` (its
        /// first line is the subject) and `{name}.html` each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Template {
            $($(#[$doc])* $variant,)+
        }

        impl Template {
            pub const ALL: &'static [Template] = &[$(Template::$variant,)+];

            /// The template's file name, and the topic its messages are counted by.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Template::$variant => $name,)+
                }
            }

            /// How its link works; `None` for a notice without one.
            pub fn link(self) -> Option<Link> {
                match self {
                    $(Template::$variant => mail_kinds!(@link $($page, $lifetime, $dies)?),)+
                }
            }

            /// The text and HTML sources in `locale` (one of `LOCALES`),
            /// compiled into the binary: English at the top of
            /// `templates/mail`, other languages in a folder each.
            fn sources(self, locale: &str) -> (&'static str, &'static str) {
                match (self, locale) {
                    $(
                        (Template::$variant, "de") => (
                            include_str!(concat!("../templates/mail/de/", $name, ".txt")),
                            include_str!(concat!("../templates/mail/de/", $name, ".html")),
                        ),
                        (Template::$variant, _) => (
                            include_str!(concat!("../templates/mail/", $name, ".txt")),
                            include_str!(concat!("../templates/mail/", $name, ".html")),
                        ),
                    )+
                }
            }
        }
    };
    (@link) => { None };
    (@link $page:ident, $lifetime:ident, $dies:literal) => {
        Some(Link {
            page: |config| config.$page.as_str(),
            lifetime: |config| config.$lifetime,
            dies_with_password_change: $dies,
        })
    };
}

// The one table of mail kinds: adding one is a row here and its two
// template files (and its page and lifetime in `MailConfig` when they are new).
mail_kinds! {
    PasswordReset = "password_reset"
        => { page: password_reset_url, lifetime: password_reset_ttl, dies_with_password_change: true };
    VerifyEmail = "verify_email"
        => { page: verify_email_url, lifetime: email_token_ttl, dies_with_password_change: false };
    /// To the new address, with the link that makes the change; a password
    /// change (what the notice to the old address advises) ends it.
    EmailChange = "email_change"
        => { page: email_change_url, lifetime: email_token_ttl, dies_with_password_change: true };
    /// To the old address: a change was asked for; no link.
    EmailChangeNotice = "email_change_notice";
    Invitation = "invitation"
        => { page: invitation_url, lifetime: invitation_ttl, dies_with_password_change: false };
    /// An address asked to join an organisation (`inviteToOrganization`):
    /// its token is the invitation's own, not an account's.
    OrganizationInvitation = "organization_invitation"
        => { page: organization_invitation_url, lifetime: invitation_ttl, dies_with_password_change: false };
    /// To a user an administrator started acting as (`impersonateUser`,
    /// when `IMPERSONATION_NOTIFY` is on); no link.
    ImpersonationNotice = "impersonation_notice";
    /// A 6-digit code and a link that sign in (`requestSignInCode`).
    SignInCode = "sign_in_code"
        => { page: sign_in_link_url, lifetime: sign_in_code_ttl, dies_with_password_change: false };
}

/// The languages mail is written in, English first (the fallback); each has
/// every template (a unit test renders them all). `MAIL_LOCALES` picks
/// among them.
pub const LOCALES: &[&str] = crate::config::MAIL_LANGUAGES;

/// A queued mail as the outbox stores it: the template and its values, and
/// the link's token sealed, so the outbox never holds a usable token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub template: Template,
    /// One of `LOCALES`; English when absent (mail queued before locales).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    pub to: String,
    /// The values the template shows (names, addresses, the link's lifetime).
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The link's token sealed (`auth::seal`); removed once the mail is sent or given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_token: Option<String>,
}

/// A composed mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let shared = [
        ("layout.html", include_str!("../templates/mail/layout.html")),
        ("macros.html", include_str!("../templates/mail/macros.html")),
        (
            "de/macros.html",
            include_str!("../templates/mail/de/macros.html"),
        ),
    ];
    for (name, source) in shared {
        env.add_template(name, source)
            .expect("the mail layout compiles (a unit test renders each template)");
    }
    for locale in LOCALES {
        for template in Template::ALL {
            let (text, html) = template.sources(locale);
            for (ext, source) in [("txt", text), ("html", html)] {
                env.add_template_owned(template_name(locale, *template, ext), source)
                    .expect("the mail templates compile (a unit test renders each)");
            }
        }
    }
    env
});

/// A template's name in the environment: `password_reset.txt`, `de/password_reset.txt`.
fn template_name(locale: &str, template: Template, ext: &str) -> String {
    match locale {
        "en" => format!("{}.{ext}", template.name()),
        other => format!("{other}/{}.{ext}", template.name()),
    }
}

/// Composes `queued` with the link built from `token`, in its locale. The
/// text template's first line is the subject.
pub fn compose(config: &MailConfig, queued: &Queued, token: Option<&str>) -> anyhow::Result<Mail> {
    let locale = queued
        .locale
        .as_deref()
        .filter(|l| LOCALES.contains(l))
        .unwrap_or("en");
    let mut values = queued.values.clone();
    values.insert("product".into(), config.product_name.clone().into());
    values.insert("lang".into(), locale.into());
    if let Some(page) = queued.template.link().map(|link| (link.page)(config)) {
        let token = token.context("the mail's link token is missing")?;
        values.insert("link".into(), page.replace("{token}", token).into());
    }
    let render = |ext: &str| -> anyhow::Result<String> {
        Ok(TEMPLATES
            .get_template(&template_name(locale, queued.template, ext))?
            .render(&values)?)
    };
    let text = render("txt")?;
    let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
    Ok(Mail {
        to: queued.to.clone(),
        subject: subject.trim().to_owned(),
        text: body.trim_start_matches('\n').to_owned(),
        html: render("html")?,
    })
}

/// A lifetime in words, for mail in `locale` ("1 hour", "7 Tagen"; German
/// in the dative its templates use: "läuft in 7 Tagen ab").
pub fn lifetime(ttl: Duration, locale: &str) -> String {
    let secs = ttl.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, 0),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, 1),
        s if s >= 60 && s % 60 == 0 => (s / 60, 2),
        s => (s, 3),
    };
    let (one, many) = match locale {
        "de" => [
            ("Tag", "Tagen"),
            ("Stunde", "Stunden"),
            ("Minute", "Minuten"),
            ("Sekunde", "Sekunden"),
        ][unit],
        _ => [
            ("day", "days"),
            ("hour", "hours"),
            ("minute", "minutes"),
            ("second", "seconds"),
        ][unit],
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Why a message (a mail, a webhook) was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Trying again cannot help (a malformed address, a 5xx answer).
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    /// The server was unreachable, busy or timed out: retry later.
    #[error("{0:#}")]
    Transient(anyhow::Error),
}

/// Where mail goes.
pub enum Transport {
    Log,
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// How long one SMTP conversation may take; a claimed message's lease is
/// longer, so no other worker takes it while it is being sent.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Transport {
    pub fn new(config: &MailConfig) -> anyhow::Result<Self> {
        match &config.transport {
            MailTransport::Log => Ok(Self::Log),
            MailTransport::Smtp(url) => Ok(Self::Smtp(smtp(url)?)),
        }
    }

    /// Sends `mail` from `from`; the error says why, and whether trying
    /// again could help.
    pub async fn send(&self, from: &str, mail: &Mail) -> Result<(), SendError> {
        match self {
            Self::Log => {
                // The whole mail in the message, so a developer can read it
                // (and follow its link) in the log as it stands.
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    "mail to {} (MAIL_TRANSPORT=log)\nSubject: {}\n\n{}\n",
                    mail.to,
                    mail.subject,
                    mail.text
                );
                Ok(())
            }
            Self::Smtp(transport) => {
                let from: Mailbox = from
                    .parse()
                    .context("MAIL_FROM")
                    .map_err(SendError::Permanent)?;
                let to: Mailbox = mail
                    .to
                    .parse()
                    .context("recipient")
                    .map_err(SendError::Permanent)?;
                let message = Message::builder()
                    .from(from)
                    .to(to)
                    .subject(&mail.subject)
                    .multipart(MultiPart::alternative_plain_html(
                        mail.text.clone(),
                        mail.html.clone(),
                    ))
                    .map_err(|e| SendError::Permanent(e.into()))?;
                transport.send(message).await.map_err(|err| {
                    // A 5xx answer (no such mailbox, refused) stays refused.
                    if err.is_permanent() {
                        SendError::Permanent(err.into())
                    } else {
                        SendError::Transient(err.into())
                    }
                })?;
                Ok(())
            }
        }
    }
}

/// `smtp://user:pass@host:port` (STARTTLS when the server offers it; add
/// `?tls=required` to insist, `?tls=none` for a loopback test server) or
/// `smtps://…` (TLS from the first byte).
fn smtp(url: &SecretString) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url = url::Url::parse(url.expose_secret()).context("SMTP_URL is not a URL")?;
    let host = url.host_str().context("SMTP_URL has no host")?.to_owned();
    let tls_mode = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let parameters = || TlsParameters::new(host.clone()).context("SMTP_URL's host for TLS");
    let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
        ("smtps", None) => (Tls::Wrapper(parameters()?), 465),
        ("smtp", None | Some("opportunistic")) => (Tls::Opportunistic(parameters()?), 587),
        ("smtp", Some("required")) => (Tls::Required(parameters()?), 587),
        ("smtp", Some("none")) => (Tls::None, 25),
        (scheme, mode) => anyhow::bail!(
            "SMTP_URL: `{scheme}://` with tls={} is not supported (smtp:// with tls=opportunistic, required or none; or smtps://)",
            mode.unwrap_or("(unset)")
        ),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(SEND_TIMEOUT));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).context("SMTP_URL's user or password is not valid percent-encoding")
        };
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            decode(url.username())?,
            decode(url.password().unwrap_or_default())?,
        ));
    }
    Ok(builder.build())
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).context("truncated escape")?;
            out.push(u8::from_str_radix(hex, 16)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MailConfig {
        crate::config::Config::from_lookup(|_| None).unwrap().mail
    }

    /// `template` composed in `locale` with `values` (as strings) and a
    /// one-hour lifetime.
    fn render_in(locale: &str, template: Template, values: &[(&str, &str)]) -> Mail {
        let mut map = serde_json::Map::new();
        for (key, value) in values {
            map.insert((*key).into(), (*value).into());
        }
        map.insert("lifetime".into(), "1 hour".into());
        // What `account_mail` adds to a sign-in code's mail as it sends it.
        map.insert("code".into(), "123456".into());
        // What an impersonation's notice always carries: the administrator
        // and their reason, an administrator's words rather than a stranger's.
        map.insert("actor".into(), "helpdesk".into());
        map.insert("reason".into(), "ticket 1".into());
        map.insert("read_only".into(), true.into());
        let queued = Queued {
            template,
            locale: Some(locale.into()),
            to: "ann@example.com".into(),
            values: map,
            sealed_token: None,
        };
        compose(&config(), &queued, Some("TOKEN123"))
            .unwrap_or_else(|e| panic!("{template:?}: {e:#}"))
    }

    /// The words each language's checks look for: its greeting and the
    /// "if this wasn't you" line every mail ends with.
    fn words(locale: &str) -> (&'static str, [&'static str; 2]) {
        match locale {
            "de" => (
                "Hallo,",
                ["nicht angefordert", "ignorieren Sie diese Nachricht"],
            ),
            _ => ("Hello,", ["wasn't you", "ignore this message"]),
        }
    }

    #[test]
    fn every_template_renders_its_link_lifetime_and_not_me_line_in_both_parts() {
        for (&locale, &template) in LOCALES
            .iter()
            .flat_map(|l| Template::ALL.iter().map(move |t| (l, t)))
        {
            let (_, not_me) = words(locale);
            let mail = render_in(
                locale,
                template,
                &[
                    ("name", "<name>"),
                    ("username", "<username>"),
                    ("address", "<address>"),
                    ("new_address", "<new_address>"),
                    ("organization", "<organization>"),
                ],
            );
            assert!(mail.subject.contains("usergraph"), "{template:?}");
            assert!(
                mail.html.contains(&format!("lang=\"{locale}\"")),
                "{template:?}"
            );
            for body in [&mail.text, &mail.html] {
                assert!(body.contains("1 hour"), "{template:?}");
                assert!(
                    not_me.iter().any(|w| body.contains(w)),
                    "{locale} {template:?}: {body}"
                );
                if template.link().is_some() {
                    assert!(body.contains("?token=TOKEN123"), "{template:?}: {body}");
                }
            }
            // The HTML part escapes what users wrote.
            assert!(mail.html.contains("&lt;"), "{template:?}");
            assert!(!mail.html.contains("<username>"), "{template:?}");
            assert!(mail.text.contains('<'), "{template:?}");
        }
    }

    /// Mail to an address nobody has proven carries no text that people
    /// chose (`account_mail::may_quote`): without those values every template
    /// still renders, with only the service's words and the address.
    #[test]
    fn every_template_renders_without_the_text_people_chose() {
        for (&locale, &template) in LOCALES
            .iter()
            .flat_map(|l| Template::ALL.iter().map(move |t| (l, t)))
        {
            let (hello, _) = words(locale);
            let mail = render_in(locale, template, &[]);
            for body in [&mail.text, &mail.html] {
                assert!(body.contains(hello), "{locale} {template:?}: {body}");
                assert!(!body.contains("()"), "{template:?}: {body}");
                assert!(!body.contains("ann@example.com"), "{template:?}: {body}");
            }
        }
    }

    #[test]
    fn every_template_is_stored_under_its_name() {
        for &template in Template::ALL {
            let stored = serde_json::to_value(template).unwrap();
            assert_eq!(stored, template.name(), "{template:?}");
        }
    }

    #[test]
    fn lifetimes_read_as_words() {
        assert_eq!(lifetime(Duration::from_secs(3600), "en"), "1 hour");
        assert_eq!(lifetime(Duration::from_secs(604_800), "en"), "7 days");
        assert_eq!(lifetime(Duration::from_secs(90), "en"), "90 seconds");
        assert_eq!(lifetime(Duration::from_secs(300), "en"), "5 minutes");
        assert_eq!(lifetime(Duration::from_secs(86_400), "en"), "1 day");
        assert_eq!(lifetime(Duration::from_secs(604_800), "de"), "7 Tagen");
        assert_eq!(lifetime(Duration::from_secs(600), "de"), "10 Minuten");
        assert_eq!(lifetime(Duration::from_secs(3600), "de"), "1 Stunde");
    }

    // lettre's pool starts its cleanup task on the runtime.
    #[tokio::test]
    async fn smtp_urls_choose_their_tls() {
        for ok in [
            "smtp://localhost:2525?tls=none",
            "smtp://user:p%40ss@mail.example.com",
            "smtps://mail.example.com",
            "smtp://mail.example.com?tls=required",
        ] {
            assert!(smtp(&SecretString::from(ok)).is_ok(), "{ok}");
        }
        for bad in ["http://mail", "smtp://mail?tls=maybe", "not a url"] {
            assert!(smtp(&SecretString::from(bad)).is_err(), "{bad}");
        }
    }
}
