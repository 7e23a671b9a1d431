//! Settings errors for people: one line per problem naming the key, the
//! value, where it came from and what is expected — never a Rust type name —
//! with "did you mean" for a misspelt key.

use super::source::Source;
use super::ConfigError;

/// Turn figment's error into one line per problem that names the key, the
/// value, where it came from and what is expected (never a Rust type name).
pub(super) fn explain(err: figment::Error) -> ConfigError {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| Source::of(m, &key).to_string())
                .unwrap_or_else(|| "settings".into());
            let what = describe_kind(&e.kind, &e.path);
            let section_unknown = matches!(&e.kind, figment::error::Kind::UnknownField(f, _)
                if e.path.len() <= 1 && e.path.first().is_none_or(|p| p == f));
            if key.is_empty() || section_unknown {
                format!("invalid settings from {source}: {what}")
            } else {
                format!("invalid {key} from {source}: {what}")
            }
        })
        .collect();
    ConfigError::new(lines.join("\n"))
}

/// One problem, for people.
fn describe_kind(kind: &figment::error::Kind, path: &[String]) -> String {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("{} is not {}", shown(actual), wanted(expected))
        }
        Kind::UnknownField(field, known)
            if path.len() <= 1 && path.first().is_none_or(|p| p == field) =>
        {
            let hint = closest(field, known)
                .map(|k| format!("did you mean [{k}]? "))
                .unwrap_or_default();
            format!(
                "there is no section [{field}]: {hint}(the sections: {})",
                known.join(", ")
            )
        }
        Kind::UnknownField(field, known) => {
            let section = match path.first() {
                Some(s) if path.len() > 1 || !known.contains(&s.as_str()) => format!(" in [{s}]"),
                _ => String::new(),
            };
            let hint = closest(field, known)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            format!(
                "there is no setting `{field}`{section}: {hint}(the settings there: {})",
                known.join(", ")
            )
        }
        Kind::UnknownVariant(v, known) => {
            format!("'{v}' is not one of {}", known.join(", "))
        }
        Kind::ISizeOutOfRange(v) => format!("{v} is out of range"),
        Kind::USizeOutOfRange(v) => format!("{v} is out of range"),
        Kind::Message(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A value as the user wrote it.
fn shown(a: &figment::error::Actual) -> String {
    use figment::error::Actual;
    match a {
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(f) => f.to_string(),
        Actual::Char(c) => format!("'{c}'"),
        Actual::Str(s) => format!("'{}'", crate::names::sanitize(s)),
        Actual::Seq => "a list".into(),
        Actual::Map => "a section (a table)".into(),
        Actual::Unit | Actual::Option => "nothing".into(),
        _ => "this value".into(),
    }
}

/// What serde expected, in words.
fn wanted(expected: &str) -> &str {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" | "u128" => "a whole number, 0 or more",
        "isize" | "i64" | "i32" | "i16" | "i8" => "a whole number",
        "f64" | "f32" => "a number (like 5 or 0.5)",
        "a boolean" | "bool" => "true or false",
        "a string" | "string" => "text (in quotes in a config file)",
        "path" | "a path" => "a file path",
        other => other,
    }
}

/// The known name nearest to a misspelt one, when it is near enough.
pub(super) fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(typo, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// `TCPPLAY_SECTION__KEY` variables whose section does not exist (they
/// would be ignored): the first, in words, with the closest real one.
pub(super) fn unknown_env_section(
    vars: impl Iterator<Item = String>,
    sections: &[&str],
) -> Option<String> {
    vars.filter_map(|var| {
        let rest = var.strip_prefix("TCPPLAY_")?;
        let (section, key) = rest.split_once("__")?;
        let lower = section.to_ascii_lowercase();
        if sections.contains(&lower.as_str()) {
            return None;
        }
        let hint = closest(&lower, sections)
            .map(|s| format!(": did you mean TCPPLAY_{}__{key}?", s.to_ascii_uppercase()))
            .unwrap_or_default();
        Some(format!(
            "environment variable {var} names no section of the settings ({}){hint}",
            sections.join(", ")
        ))
    })
    .next()
}
