//! The standard QuestDB client configuration string, e.g.
//! `http::addr=questdb:9000;username=admin;password=secret;` (from `--questdb` or the
//! `QDB_CLIENT_CONF` environment variable, as every QuestDB client reads it).
//!
//! The string goes to `questdb-rs` unchanged except for one default: `protocol_version=1`
//! (text ILP) unless the string names a version, so what the sink sends is what CI parses
//! strictly and the sender needs no `/settings` round trip while QuestDB is still starting.
//! The same address and credentials serve the DDL over HTTP `/exec`.

use std::fmt;

use crate::ConnectorError;

/// Environment variable the QuestDB clients read their configuration from.
pub const CONF_ENV: &str = "QDB_CLIENT_CONF";

/// A parsed QuestDB client configuration.
#[derive(Clone)]
pub struct QuestDbConf {
    /// `http` or `https`.
    pub schema: String,
    /// `host:port` (port 9000 when omitted).
    pub addr: String,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password.
    password: Option<String>,
    /// Bearer token (QuestDB Enterprise).
    token: Option<String>,
    /// The conf string handed to the ILP sender.
    sender_conf: String,
}

impl fmt::Debug for QuestDbConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never print credentials
        write!(f, "QuestDbConf({}::addr={}; user={:?})", self.schema, self.addr, self.username)
    }
}

fn bad(message: impl Into<String>) -> ConnectorError {
    ConnectorError::QuestDbConfig { message: format!("bad client configuration: {}", message.into()) }
}

impl QuestDbConf {
    /// Parses `schema::key=value;key=value;` (`;;` escapes a semicolon in a value). Only the
    /// HTTP transports are accepted: the sink relies on HTTP's per-request acknowledgement.
    pub fn parse(conf: &str) -> Result<Self, ConnectorError> {
        let (schema, rest) = conf.split_once("::").ok_or_else(|| bad("expected `http::addr=host:port;...`"))?;
        let schema = schema.trim();
        if schema != "http" && schema != "https" {
            return Err(bad(format!("transport `{schema}`: use http or https (ILP over HTTP)")));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut chars = rest.chars().peekable();
        let (mut key, mut val, mut in_val) = (String::new(), String::new(), false);
        while let Some(c) = chars.next() {
            match c {
                ';' if chars.peek() == Some(&';') && in_val => {
                    chars.next();
                    val.push(';');
                }
                ';' => {
                    if !in_val {
                        if key.trim().is_empty() {
                            continue;
                        }
                        return Err(bad(format!("`{key}` has no value")));
                    }
                    pairs.push((std::mem::take(&mut key).trim().to_string(), std::mem::take(&mut val)));
                    in_val = false;
                }
                '=' if !in_val => in_val = true,
                _ if in_val => val.push(c),
                _ => key.push(c),
            }
        }
        if in_val {
            pairs.push((key.trim().to_string(), val));
        } else if !key.trim().is_empty() {
            return Err(bad(format!("`{}` has no value", key.trim())));
        }
        let get = |k: &str| pairs.iter().rev().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
        let mut addr = get("addr").ok_or_else(|| bad("missing addr"))?;
        if addr.is_empty() {
            return Err(bad("empty addr"));
        }
        if !addr.contains(':') {
            addr.push_str(":9000");
        }
        let mut sender_conf = conf.trim().to_string();
        if get("protocol_version").is_none() {
            if !sender_conf.ends_with(';') {
                sender_conf.push(';');
            }
            sender_conf.push_str("protocol_version=1;");
        }
        Ok(QuestDbConf { schema: schema.to_string(), addr, username: get("username"), password: get("password"), token: get("token"), sender_conf })
    }

    /// Reads [`CONF_ENV`]; `None` when unset or empty.
    pub fn from_env() -> Result<Option<Self>, ConnectorError> {
        match std::env::var(CONF_ENV) {
            Ok(s) if !s.trim().is_empty() => Self::parse(&s).map(Some),
            _ => Ok(None),
        }
    }

    /// The conf string for `questdb::ingress::Sender::from_conf`.
    pub fn sender_conf(&self) -> &str {
        &self.sender_conf
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.schema, self.addr)
    }

    /// The `Authorization` header value, if any.
    pub(crate) fn authorization(&self) -> Option<String> {
        if let Some(t) = &self.token {
            return Some(format!("Bearer {t}"));
        }
        let user = self.username.as_deref()?;
        let pass = self.password.as_deref().unwrap_or("");
        Some(format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())))
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_standard_string_and_defaults_text_ilp() {
        let c = QuestDbConf::parse("http::addr=questdb:9000;username=admin;password=se;;cret;").unwrap();
        assert_eq!((c.schema.as_str(), c.addr.as_str(), c.username.as_deref()), ("http", "questdb:9000", Some("admin")));
        assert_eq!(c.password.as_deref(), Some("se;cret"));
        assert_eq!(c.sender_conf(), "http::addr=questdb:9000;username=admin;password=se;;cret;protocol_version=1;");
        assert_eq!(c.authorization().unwrap(), format!("Basic {}", base64(b"admin:se;cret")));
        let c = QuestDbConf::parse("https::addr=db;protocol_version=2").unwrap();
        assert_eq!((c.addr.as_str(), c.sender_conf()), ("db:9000", "https::addr=db;protocol_version=2"));
        assert!(c.authorization().is_none());
        assert!(!format!("{c:?}").contains("password"));
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        for s in ["addr=x:9000;", "tcp::addr=x:9009;", "http::username=a;", "http::addr=;", "http::addr"] {
            assert!(QuestDbConf::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
