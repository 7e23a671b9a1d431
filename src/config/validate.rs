//! The checks across settings, after layering: each value within its
//! bounds, named with where it came from. One function per part of the
//! settings; [`validate`] runs them all.

use super::{ConfigError, Loaded, MAX_RATE, MAX_REPLAY};

/// Every check, in the order a user reads the settings.
pub(crate) fn validate(l: &Loaded) -> Result<(), ConfigError> {
    serve(l)?;
    numbers(l)?;
    rooms(l)?;
    cluster(l)?;
    history(l)
}

/// `[serve]`: the log format, the worker threads, the metrics address.
fn serve(l: &Loaded) -> Result<(), ConfigError> {
    let s = &l.settings;
    if !matches!(s.serve.log_format.as_str(), "text" | "json") {
        return Err(ConfigError::new(format!(
            "serve.log_format {:?} from {}: must be \"text\" or \"json\"",
            s.serve.log_format,
            l.source_of("serve.log_format")
        )));
    }
    if s.serve.workers > 1024 {
        return Err(ConfigError::new(format!(
            "serve.workers {} from {}: must be 0 (one per core) to 1024",
            s.serve.workers,
            l.source_of("serve.workers")
        )));
    }
    if let Some(m) = &s.serve.metrics {
        if m.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(format!(
                "serve.metrics {m:?} from {}: must be an address and port, e.g. 127.0.0.1:9100 or [::1]:9100",
                l.source_of("serve.metrics")
            )));
        }
    }
    Ok(())
}

/// Times (seconds), the rate (lines per second) and sizes (at least 1).
fn numbers(l: &Loaded) -> Result<(), ConfigError> {
    let s = &l.settings;
    let secs = [
        ("serve.timeout", s.serve.timeout),
        ("join.timeout", s.join.timeout),
        ("limits.handshake_timeout", s.limits.handshake_timeout),
        ("limits.write_timeout", s.limits.write_timeout),
        ("limits.auth_block", s.limits.auth_block),
    ];
    for (key, v) in secs {
        if !v.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&v) {
            return Err(ConfigError::new(format!(
                "{key} {v} from {}: must be a number of seconds, 0 or more",
                l.source_of(key)
            )));
        }
    }
    // A rate, not a time: lines per second (0: no limit).
    let rate = s.limits.messages_per_second;
    if !rate.is_finite() || !(0.0..=MAX_RATE).contains(&rate) {
        return Err(ConfigError::new(format!(
            "limits.messages_per_second {rate} from {}: must be a number of lines per second, \
             from 0 (no limit) to {MAX_RATE}",
            l.source_of("limits.messages_per_second")
        )));
    }
    let sizes = [
        ("limits.max_clients", s.limits.max_clients),
        ("limits.max_frame_bytes", s.limits.max_frame_bytes),
        ("limits.max_text_chars", s.limits.max_text_chars),
        ("limits.send_queue_bytes", s.limits.send_queue_bytes),
        ("limits.room_buffer", s.limits.room_buffer),
        ("limits.auth_failures", s.limits.auth_failures as usize),
        ("limits.message_burst", s.limits.message_burst as usize),
        (
            "limits.auth_failures_total",
            s.limits.auth_failures_total as usize,
        ),
        ("limits.max_handshakes", s.limits.max_handshakes),
        ("limits.max_web_connections", s.limits.max_web_connections),
    ];
    for (key, v) in sizes {
        if v == 0 {
            return Err(ConfigError::new(format!(
                "{key} 0 from {}: must be at least 1",
                l.source_of(key)
            )));
        }
    }
    if s.limits.max_frame_bytes < 256 {
        return Err(ConfigError::new(format!(
            "limits.max_frame_bytes {} from {}: must be at least 256",
            s.limits.max_frame_bytes,
            l.source_of("limits.max_frame_bytes")
        )));
    }
    Ok(())
}

/// Room names (the default room, `[[rooms]]`, `join.rooms`): valid, declared once, with texts within the limit.
fn rooms(l: &Loaded) -> Result<(), ConfigError> {
    let s = &l.settings;
    let room = |key: String, v: &str| {
        crate::names::room_name(v)
            .map_err(|e| ConfigError::new(format!("{key} {v:?} from {}: {e}", l.source_of(&key))))
    };
    let default = room("serve.default_room".into(), &s.serve.default_room)?;
    let mut seen = vec![crate::names::name_key(&default)];
    for (i, r) in s.rooms.iter().enumerate() {
        let name = room(format!("rooms.{i}.name"), &r.name)?;
        let key = crate::names::name_key(&name);
        if seen.contains(&key) {
            return Err(ConfigError::new(format!(
                "[[rooms]] {name} from {}: declared twice (or it is serve.default_room)",
                l.source_of("rooms")
            )));
        }
        seen.push(key);
        for (what, text) in [("topic", &r.topic), ("motd", &r.motd)] {
            if let Some(t) = text {
                if t.chars().count() > s.limits.max_text_chars
                    || t.chars().any(crate::names::is_unsafe_char)
                {
                    return Err(ConfigError::new(format!(
                        "[[rooms]] {name} {what} from {}: at most limits.max_text_chars ({}) characters, without control characters",
                        l.source_of("rooms"),
                        s.limits.max_text_chars
                    )));
                }
            }
        }
    }
    for r in &s.join.rooms {
        room("join.rooms".into(), r)?;
    }
    Ok(())
}

/// `[cluster]`: a Redis URL, a node name and a prefix of plain words.
fn cluster(l: &Loaded) -> Result<(), ConfigError> {
    let s = &l.settings;
    if let Some(u) = &s.cluster.url {
        if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
            return Err(ConfigError::new(format!(
                "cluster.url from {}: must start with redis:// or rediss:// (e.g. redis://127.0.0.1:6379)",
                l.source_of("cluster.url")
            )));
        }
    }
    let word = |v: &str| {
        !v.is_empty()
            && v.len() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if let Some(n) = s.cluster.node.as_deref().filter(|n| !word(n)) {
        return Err(ConfigError::new(format!(
            "cluster.node {:?} from {}: 1-64 letters, digits, '-', '_' or '.'",
            n,
            l.source_of("cluster.node")
        )));
    }
    if !word(&s.cluster.prefix) {
        return Err(ConfigError::new(format!(
            "cluster.prefix {:?} from {}: 1-64 letters, digits, '-', '_' or '.'",
            s.cluster.prefix,
            l.source_of("cluster.prefix")
        )));
    }
    Ok(())
}

/// `[history]`: how much is replayed, and for how long it is kept.
fn history(l: &Loaded) -> Result<(), ConfigError> {
    let s = &l.settings;
    if s.history.replay > MAX_REPLAY {
        return Err(ConfigError::new(format!(
            "history.replay {} from {}: at most {MAX_REPLAY} messages are replayed to a new member",
            s.history.replay,
            l.source_of("history.replay")
        )));
    }
    let days = s.history.max_age_days;
    if !days.is_finite() || !(0.0..=36_500.0).contains(&days) {
        return Err(ConfigError::new(format!(
            "history.max_age_days {days} from {}: must be a number of days from 0 (keep forever) to 36500",
            l.source_of("history.max_age_days")
        )));
    }
    Ok(())
}
