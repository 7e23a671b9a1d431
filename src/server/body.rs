//! The one rule for what a chat line or direct message may carry, for
//! lines from members and entries from Redis alike: in a secure room a
//! sealed payload within the size the text limit allows and no plaintext;
//! elsewhere non-empty text within `limits.max_text_chars` and nothing
//! sealed.

use crate::crypto;
use crate::protocol::codes;

/// Why a message's body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    PlainInSecureRoom,
    NoPayload,
    PayloadTooLong { max: usize },
    SealedInPlainRoom,
    NoText,
    EmptyText,
    TooLong { chars: usize, max: usize },
}

impl BodyError {
    /// The protocol's error code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            BodyError::PayloadTooLong { .. } | BodyError::TooLong { .. } => codes::TOO_LONG,
            BodyError::EmptyText => codes::EMPTY_TEXT,
            _ => codes::BAD_PACKET,
        }
    }

    /// For the sender.
    pub(crate) fn message(&self) -> String {
        match self {
            BodyError::PlainInSecureRoom => "this room is encrypted: plaintext is refused".into(),
            BodyError::NoPayload => "a message in a secure room needs a payload".into(),
            BodyError::PayloadTooLong { max } => format!(
                "encrypted payload over the limit of {max} bytes (limits.max_text_chars); not sent"
            ),
            BodyError::SealedInPlainRoom => "this room is not encrypted: send text".into(),
            BodyError::NoText => "a message needs a text field".into(),
            BodyError::EmptyText => "empty message (nothing but spaces)".into(),
            BodyError::TooLong { chars, max } => format!(
                "message of {chars} characters is over the limit of {max} (limits.max_text_chars); not sent"
            ),
        }
    }
}

/// Check a body: `secure` is whether the room is a secure one.
pub(crate) fn check(
    secure: bool,
    max_text_chars: usize,
    encrypted: bool,
    text: Option<&str>,
    payload: Option<&str>,
) -> Result<(), BodyError> {
    if secure {
        let max = crypto::max_payload_len(max_text_chars);
        return match (payload, text) {
            (_, Some(_)) => Err(BodyError::PlainInSecureRoom),
            (None, None) => Err(BodyError::NoPayload),
            (Some(p), None) if p.len() > max => Err(BodyError::PayloadTooLong { max }),
            (Some(_), None) => Ok(()),
        };
    }
    if encrypted || payload.is_some() {
        return Err(BodyError::SealedInPlainRoom);
    }
    let text = text.ok_or(BodyError::NoText)?;
    check_text(max_text_chars, text)
}

/// Non-empty, within the character limit.
pub(crate) fn check_text(max_text_chars: usize, text: &str) -> Result<(), BodyError> {
    if text.trim().is_empty() {
        return Err(BodyError::EmptyText);
    }
    if text.len() <= max_text_chars {
        return Ok(()); // no more characters than bytes
    }
    let chars = text.chars().count();
    match chars > max_text_chars {
        true => Err(BodyError::TooLong {
            chars,
            max: max_text_chars,
        }),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_room_takes_only_sealed_bodies_and_a_plain_one_only_text() {
        assert_eq!(
            check(true, 10, true, Some("hi"), Some("p")),
            Err(BodyError::PlainInSecureRoom)
        );
        assert_eq!(check(true, 10, true, None, None), Err(BodyError::NoPayload));
        assert!(matches!(
            check(true, 1, true, None, Some(&"x".repeat(100))),
            Err(BodyError::PayloadTooLong { .. })
        ));
        assert_eq!(check(true, 10, true, None, Some("AAAA")), Ok(()));
        assert_eq!(
            check(false, 10, false, None, Some("AAAA")),
            Err(BodyError::SealedInPlainRoom)
        );
        assert_eq!(check(false, 10, false, None, None), Err(BodyError::NoText));
        assert_eq!(
            check(false, 10, false, Some("  "), None),
            Err(BodyError::EmptyText)
        );
        assert_eq!(
            check(false, 3, false, Some("éééé"), None),
            Err(BodyError::TooLong { chars: 4, max: 3 })
        );
        assert_eq!(check(false, 4, false, Some("éééé"), None), Ok(()));
    }
}
