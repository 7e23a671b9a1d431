//! How two settings are read from what people write: a port from a
//! number or a numeric string, and `tls` from a boolean or a word; each
//! with a message that names the value.

use serde::de::{self, Deserializer, Visitor};

use super::TlsMode;

/// A port from an integer or a numeric string, with a message that names the value.
pub(crate) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u16;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a port number 0-65535")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
            u16::try_from(v)
                .map_err(|_| E::custom(format!("port {v} is out of range: must be 0-65535")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            u16::try_from(v)
                .map_err(|_| E::custom(format!("port {v} is out of range: must be 0-65535")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u16, E> {
            v.trim()
                .parse::<i64>()
                .map_err(|_| E::custom(format!("port '{v}' is not a number: must be 0-65535")))
                .and_then(|n| self.visit_i64(n))
        }
    }
    d.deserialize_any(V)
}

/// `tls = true | false | "auto" | "on" | "off"`.
pub(crate) fn tls_mode<'de, D: Deserializer<'de>>(d: D) -> Result<TlsMode, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = TlsMode;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true, false, \"auto\", \"on\" or \"off\"")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<TlsMode, E> {
            Ok(if v { TlsMode::On } else { TlsMode::Off })
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<TlsMode, E> {
            match v.to_ascii_lowercase().as_str() {
                "auto" => Ok(TlsMode::Auto),
                "on" | "true" | "yes" => Ok(TlsMode::On),
                "off" | "false" | "no" => Ok(TlsMode::Off),
                _ => Err(E::custom(format!("tls '{v}' is not one of auto, on, off"))),
            }
        }
    }
    d.deserialize_any(V)
}
