//! `account` packets from a member: register the current name, change the
//! password, unregister, and bind client certificates (`/certfp`). The
//! registration's two round trips need no state here: the server's answer
//! to a request depends only on the setup and the name, and what the
//! client uploads is the record kept.

use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::crypto::account::{respond, AccountRecord};
use crate::crypto::{self};
use crate::names::{name_key, sanitize};
use crate::protocol::{codes, AccountMsg, AccountOp, Packet};
use crate::server::room::rules::Owners;
use crate::server::room::Membership;

fn done(text: String) -> Packet {
    let mut m = AccountMsg::new(AccountOp::Done);
    m.text = Some(text);
    Packet::Account(m)
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// Answer one `account` packet.
    pub(super) async fn account(&mut self, m: AccountMsg, joined: &Membership) -> Packet {
        let Some(accounts) = self.ctx.accounts.clone() else {
            return Packet::error(
                codes::ACCOUNTS_UNAVAILABLE,
                "this server has no accounts (they need TLS, and the operator turns them on with serve.registration)",
            );
        };
        let identity = self.ctx.hub.identity(joined.id).unwrap_or_default();
        let logged_in = identity.account.clone();
        let need_login = || {
            Packet::error(
                codes::NOT_LOGGED_IN,
                "log in to your account first (join with its name and password)",
            )
        };
        let b64 = |s: &Option<String>| s.as_deref().and_then(crypto::unb64);
        match m.op {
            AccountOp::Register | AccountOp::Password => {
                let register = m.op == AccountOp::Register;
                let name = if register {
                    if let Some(a) = &logged_in {
                        return Packet::error(
                            codes::BAD_PACKET,
                            format!("you are logged in to the account {} already (/password changes its password)", sanitize(a)),
                        );
                    }
                    joined.name.clone()
                } else {
                    match &logged_in {
                        Some(a) => a.clone(),
                        None => return need_login(),
                    }
                };
                let key = name_key(&name);
                if register && accounts.reserved(&name) {
                    return Packet::error(
                        codes::NAME_REGISTERED,
                        format!(
                            "the name {} is registered already, or kept for an operator",
                            sanitize(&name)
                        ),
                    );
                }
                if register {
                    if let Err((code, why)) = accounts.registration_open() {
                        return Packet::error(code, why);
                    }
                }
                if let Some(req) = b64(&m.request) {
                    // Step 1: the server's response (nothing kept yet).
                    return match respond(accounts.setup(), &req, &key) {
                        Ok(resp) => {
                            let mut r = AccountMsg::new(m.op);
                            r.response = Some(crypto::b64(&resp));
                            Packet::Account(r)
                        }
                        Err(_) => Packet::error(
                            codes::BAD_PACKET,
                            "the registration request is malformed",
                        ),
                    };
                }
                let Some(record) = b64(&m.upload).and_then(|u| AccountRecord::from_upload(&u).ok())
                else {
                    return Packet::error(
                        codes::BAD_PACKET,
                        "an account packet needs a registration request or upload",
                    );
                };
                if !register {
                    return match accounts.change(&name, record).await {
                        Ok(()) => {
                            tracing::info!(peer = %self.peer, account = %sanitize(&name), "account password changed");
                            done(format!(
                                "the password of the account {} is changed",
                                sanitize(&name)
                            ))
                        }
                        Err(e) => Packet::error(codes::BAD_PACKET, e.0),
                    };
                }
                if let Err((code, why)) = accounts.may_register(self.peer.ip()) {
                    return Packet::error(code, why);
                }
                match accounts.register(&name, record).await {
                    Ok(()) => {
                        tracing::info!(peer = %self.peer, account = %sanitize(&name), "account registered");
                        self.ctx.hub.set_account(joined.id, Some(name.clone()));
                        done(format!(
                            "the name {} is registered to you: from now on it needs its password (you are logged in)",
                            sanitize(&name)
                        ))
                    }
                    Err(e) => Packet::error(codes::NAME_REGISTERED, e.0),
                }
            }
            AccountOp::Unregister => {
                let Some(name) = logged_in else {
                    return need_login();
                };
                match accounts.unregister(&name).await {
                    Ok(()) => {
                        tracing::info!(peer = %self.peer, account = %sanitize(&name), "account unregistered");
                        self.ctx.hub.set_account(joined.id, None);
                        for (room, rules) in accounts.drop_grants(&name_key(&name)) {
                            self.ctx.hub.apply_rules(&room, rules);
                        }
                        done(format!(
                            "the account {} is gone: its name is anyone's again",
                            sanitize(&name)
                        ))
                    }
                    Err(e) => Packet::error(codes::BAD_PACKET, e.0),
                }
            }
            AccountOp::CertfpAdd => {
                let Some(name) = logged_in else {
                    return need_login();
                };
                let Some(fp) = identity.cert else {
                    return Packet::error(
                        codes::BAD_PACKET,
                        "this connection shows no client certificate (join with --client-cert and --client-key)",
                    );
                };
                match accounts.bind_cert(&name, &fp).await {
                    Ok(()) => done(format!(
                        "this certificate ({fp}) now logs in to the account {} without a password",
                        sanitize(&name)
                    )),
                    Err(e) => Packet::error(codes::TOO_MANY_BANS, e.0),
                }
            }
            AccountOp::CertfpDel => {
                let Some(name) = logged_in else {
                    return need_login();
                };
                let Some(fp) = m.fp.clone().or(identity.cert) else {
                    return Packet::error(
                        codes::BAD_PACKET,
                        "say which certificate: /certfp del FINGERPRINT",
                    );
                };
                let fp = fp.to_ascii_uppercase();
                match accounts.unbind_cert(&name, &fp).await {
                    Ok(true) => done(format!(
                        "certificate {fp} no longer logs in to {}",
                        sanitize(&name)
                    )),
                    Ok(false) => Packet::error(
                        codes::NO_SUCH_USER,
                        format!(
                            "certificate {} is not bound to {} (/certfp list)",
                            sanitize(&fp),
                            sanitize(&name)
                        ),
                    ),
                    Err(e) => Packet::error(codes::BAD_PACKET, e.0),
                }
            }
            AccountOp::CertfpList => {
                let Some(name) = logged_in else {
                    return need_login();
                };
                let mut r = AccountMsg::new(AccountOp::Done);
                r.fps = accounts.certs_of(&name);
                r.text = Some(match r.fps.len() {
                    0 => format!("no certificate is bound to {}", sanitize(&name)),
                    n => format!(
                        "{n} certificate(s) bound to {}: {}",
                        sanitize(&name),
                        r.fps.join(", ")
                    ),
                });
                Packet::Account(r)
            }
            AccountOp::Signin => {
                let Some(name) = logged_in else {
                    return need_login();
                };
                let token = accounts.signins.issue(&name, m.token.as_deref());
                let fragment = crate::server::accounts::signin_fragment(&token, &name);
                let mut r = AccountMsg::new(AccountOp::Done);
                r.text = Some(format!(
                    "a sign-in link for the browser page, good once, within 10 minutes: open the page's address \
                     followed by {fragment} and it logs in to {} without asking for the password",
                    sanitize(&name)
                ));
                r.token = Some(token);
                Packet::Account(r)
            }
            AccountOp::Done | AccountOp::Unknown => Packet::error(
                codes::BAD_PACKET,
                "an account operation this server does not know",
            ),
        }
    }

    /// `moderate`: an operator's action in a room (the default room when
    /// none is named); the room is told, the operator answered.
    pub(super) async fn moderate(
        &mut self,
        m: crate::protocol::Moderate,
        joined: &Membership,
    ) -> Option<Packet> {
        let hub = &self.ctx.hub;
        let room = match m.room.as_deref() {
            None => hub.default_room().clone(),
            Some(raw) => match hub.find(raw) {
                Ok(r) => r,
                Err(e) => return Some(e.packet(m.room.as_deref())),
            },
        };
        let actor = crate::server::room::Actor::Member(joined.id);
        match hub.moderate(actor, &room, &m) {
            Ok(text) => {
                tracing::info!(peer = %self.peer, room = %room.name(), "moderation: {}", sanitize(&text));
                let inside = joined
                    .rooms
                    .iter()
                    .any(|r| std::sync::Arc::ptr_eq(&r.room, &room));
                let listing = m.action == crate::protocol::ModAction::List;
                (listing || !inside)
                    .then(|| Packet::event("moderation", None, text).in_room(room.tag()))
            }
            Err(e)
                if e.code == codes::NO_SUCH_USER
                    && m.action == crate::protocol::ModAction::Kick =>
            {
                // In a cluster the member may be on another node: its node takes it out.
                let target = m.target.as_deref().unwrap_or_default();
                let (Some(c), Some(there)) = (self.ctx.cluster.clone(), room.remote_member(target))
                else {
                    return Some(e.packet(room.tag()));
                };
                let reason = m.reason.clone().unwrap_or_else(|| "no reason given".into());
                let reason: String = reason
                    .chars()
                    .filter(|&c| !crate::names::is_unsafe_char(c))
                    .take(200)
                    .collect();
                if !c
                    .kick_from_room(&there, room.name(), &joined.name, &reason)
                    .await
                {
                    return Some(e.packet(room.tag()));
                }
                let text = format!("{there} was removed from {}", room.name());
                Some(Packet::event("moderation", None, text).in_room(room.tag()))
            }
            Err(e) => Some(e.packet(room.tag())),
        }
    }
}
