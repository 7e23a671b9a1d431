//! Reloading the settings while the server runs (SIGHUP, the console's
//! `/reload`): one table says what a running server can take live and what
//! needs a restart, and every changed setting is reported as one or the other.

use std::sync::Arc;

use super::ServerHandle;
use crate::config::Settings;

/// Changes applied live: limits, the message of the day, certificate and
/// key, whether members may make rooms (and the `[[rooms]]`, reported on
/// their own).
const LIVE: [&str; 6] = [
    "limits.",
    "serve.motd",
    "serve.motd_file",
    "serve.cert",
    "serve.key",
    "serve.create_rooms",
];
/// What a reload brings: the new settings and what was read for them.
pub(crate) struct Reload {
    pub settings: Settings,
    pub motd: Option<String>,
    /// The new certificate and key (when TLS is configured).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Every server setting as `section.key` → its value (client settings, the
/// `join` section, are not the server's business).
fn flat(s: &Settings) -> Vec<(String, serde_json::Value)> {
    let v = serde_json::to_value(s).unwrap_or_default();
    let mut out = Vec::new();
    for (section, keys) in v.as_object().into_iter().flatten() {
        if section == "join" {
            continue;
        }
        for (k, value) in keys.as_object().into_iter().flatten() {
            let key = format!("{section}.{k}");
            let value = crate::config::shown_value(&key, value);
            out.push((key, value));
        }
    }
    out
}

impl ServerHandle {
    /// Apply what can change live; one line per changed setting, saying
    /// whether it applies now or needs a restart.
    pub(crate) fn reload(&self, old: &Settings, new: Reload) -> Vec<String> {
        let (before, after) = (flat(old), flat(&new.settings));
        let mut keys: Vec<&String> = before.iter().chain(&after).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        let value = |set: &[(String, serde_json::Value)], key: &str| {
            set.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| "(unset)".into())
        };
        let mut report = Vec::new();
        for key in keys {
            let (was, now) = (value(&before, key), value(&after, key));
            if was == now {
                continue;
            }
            let at_start = key
                .strip_prefix("limits.")
                .is_some_and(crate::config::Limits::sized_at_start);
            let live = LIVE.iter().any(|p| key.starts_with(p)) && !at_start;
            let how = if live { "applied" } else { "needs a restart" };
            report.push(format!("{key}: {was} -> {now} ({how})"));
        }
        if new.tls.is_some() != self.is_tls() {
            report.push("TLS on/off changed (needs a restart)".into());
        }
        self.ctx.limits.store(Arc::new(new.settings.limits.clone()));
        if self.motd().as_deref() != new.motd.as_ref() {
            self.set_motd(new.motd);
        }
        self.ctx.hub.set_create(new.settings.serve.create_rooms);
        if old.rooms != new.settings.rooms {
            let decls = super::room_decls(&new.settings);
            report.extend(self.ctx.hub.declare(&decls));
        }
        if let Some(tls) = new.tls.filter(|_| self.ctx.is_tls()) {
            self.ctx.tls.store(Some(tls));
            report.push("certificate and key reloaded (new connections use them)".into());
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_change_is_reported_as_live_or_needing_a_restart() {
        let ctx = Arc::new(crate::server::Ctx::for_tests());
        let server = ServerHandle { ctx };
        let old = Settings::default();
        let mut new = Settings::default();
        new.limits.messages_per_second = 5.0;
        new.limits.max_clients = 7;
        new.serve.port = 4000;
        new.serve.motd = Some("hi".into());
        new.join.port = 1;
        let report = server.reload(
            &old,
            Reload {
                settings: new,
                motd: Some("hi".into()),
                tls: None,
            },
        );
        assert_eq!(
            report,
            vec![
                "limits.max_clients: 4096 -> 7 (needs a restart)",
                "limits.messages_per_second: 10.0 -> 5.0 (applied)",
                "serve.motd: (unset) -> \"hi\" (applied)",
                "serve.port: 12345 -> 4000 (needs a restart)",
            ]
        );
        assert_eq!(server.ctx.limits().messages_per_second, 5.0);
        assert_eq!(server.motd().as_deref().map(String::as_str), Some("hi"));
    }
}
