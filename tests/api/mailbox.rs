//! A real SMTP server on loopback for the tests: it speaks enough of RFC 5321
//! (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for lettre's
//! pooled transport, and keeps every message it receives, parsed as MIME.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::Notify,
    task::JoinHandle,
};

/// One received mail.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    /// The token of the mail's link (`…?token=…`).
    pub fn token(&self) -> String {
        let at = self
            .text
            .find("token=")
            .unwrap_or_else(|| panic!("no link in mail: {self:?}"))
            + "token=".len();
        self.text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// The SMTP sink. Dropping it stops the server.
pub struct MailSink {
    pub addr: SocketAddr,
    inbox: Arc<Inbox>,
    server: JoinHandle<()>,
}

impl MailSink {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), Duration::ZERO).await
    }

    /// A sink on `addr` that takes `delay` to accept each message's data.
    pub async fn start_on(addr: SocketAddr, delay: Duration) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the SMTP sink");
        let addr = listener.local_addr().unwrap();
        let inbox = Arc::new(Inbox::default());
        let shared = inbox.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = shared.clone();
                tokio::spawn(async move {
                    let _ = converse(stream, inbox, delay).await;
                });
            }
        });
        Self {
            addr,
            inbox,
            server,
        }
    }

    /// An `SMTP_URL` for this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Every mail received so far.
    pub fn all(&self) -> Vec<Received> {
        self.inbox.mails.lock().unwrap().clone()
    }

    /// The mails received so far for `to`.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all().into_iter().filter(|m| m.to == to).collect()
    }

    /// Waits (up to 10 s) until `n` mails have arrived for `to`; returns them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.to(to);
            if mails.len() >= n {
                return mails;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "{} of {n} mails to {to} arrived in 10 s; all mail: {:?}",
                    mails.len(),
                    self.all()
                );
            }
        }
    }

    /// The one mail `to` should get next, after the `seen` already read.
    pub async fn next(&self, to: &str, seen: usize) -> Received {
        self.wait_for(to, seen + 1).await[seen].clone()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    inbox: Arc<Inbox>,
    delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?,
            // A mailbox that does not exist, for permanent failures.
            "RCPT" if line.contains("nosuchuser") => {
                write.write_all(b"550 5.1.1 no such mailbox\r\n").await?
            }
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    if lines.read_until(b'\n', &mut raw).await? == 0 {
                        return Ok(());
                    }
                    if raw == b".\r\n" {
                        break;
                    }
                    let unstuffed = if raw.starts_with(b"..") {
                        &raw[1..]
                    } else {
                        &raw[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                tokio::time::sleep(delay).await;
                let parsed = mail_parser::MessageParser::default()
                    .parse(&data)
                    .expect("a MIME message");
                let received = Received {
                    to: parsed
                        .to()
                        .and_then(|to| to.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned(),
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    text: parsed.body_text(0).unwrap_or_default().into_owned(),
                    html: parsed.body_html(0).unwrap_or_default().into_owned(),
                };
                // Kept before it is acknowledged: once the sender has its
                // 250, the mail is here.
                inbox.mails.lock().unwrap().push(received);
                inbox.arrived.notify_waiters();
                write.write_all(b"250 OK queued\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 not implemented\r\n").await?,
        }
    }
}
