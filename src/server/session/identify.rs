//! Who may hold the name an `auth` asks for, and the account login. A
//! name with an account needs its login (OPAQUE, bound to this TLS
//! session), a client certificate bound to it, or a one-time sign-in link
//! its holder made for the browser page; an operator's name is
//! never a guest's; under `--client-ca` the name is the certificate's (or
//! an account's, proven). A login for a name with no account runs against
//! OPAQUE's fake record and fails exactly as a wrong password does: same
//! answer, same work, so names cannot be enumerated by logging in.

use tokio::io::{AsyncRead, AsyncWrite};

use super::peer::{refusal, PeerCert};
use super::{End, Session};
use crate::crypto::account::{AccountLogin, AccountRecord};
use crate::crypto::{self};
use crate::names::{name_key, sanitize};
use crate::protocol::{codes, Auth, AuthStep, Packet};
use crate::server::limits::Limit;
use crate::server::room::rules::Owners;
use crate::server::room::Identity;

/// What an `auth` will get, decided before any login runs.
pub(super) enum Plan {
    /// A guest (with the certificate it showed, if any).
    Guest,
    /// A certificate bound to the account of this name, or a one-time
    /// sign-in link for it: logged in.
    Cert(String),
    /// An account login: the account's name and record when it exists
    /// (`None`: OPAQUE's fake record), and KE1.
    Login {
        account: Box<Option<(String, AccountRecord)>>,
        ke1: Vec<u8>,
    },
}

/// A refusal the client may answer with another `auth` (another name, or
/// the account's password).
pub(super) struct Retry(pub Box<Packet>);

fn retry(code: &str, why: String) -> Retry {
    Retry(Box::new(refusal(code, why)))
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    fn peer_cert(&self) -> Option<&PeerCert> {
        self.bound.as_ref().and_then(|b| b.cert.as_ref())
    }

    /// Decide how `name` may be held (see the module's rules).
    pub(super) fn plan(&self, name: &str, auth: &Auth) -> Result<Plan, Retry> {
        let accounts = self.ctx.accounts.as_deref();
        let key = name_key(name);
        let account = accounts.and_then(|a| a.lookup(name));
        let shown = sanitize(name);
        if let Some(token) = &auth.signin {
            // A one-time link from the account's holder: the account, or
            // one answer for a used, expired, wrong or unknown link.
            // (The account must still be there: in a cluster another node
            // may have dropped it, and only its own links were forgotten.)
            let redeemed = accounts.and_then(|a| {
                a.signins
                    .redeem(token, name)
                    .filter(|acc| a.lookup(acc).is_some())
            });
            return match redeemed {
                Some(acc) => Ok(Plan::Cert(acc)),
                None => Err(retry(
                    codes::ACCOUNT_AUTH_FAILED,
                    format!(
                        "this sign-in link does not log in to {shown}: it was used, is older than 10 minutes, \
                         or is for another account; make a new one with /weblink in tcpplay join"
                    ),
                )),
            };
        }
        if let Some(ke1) = &auth.account_ke1 {
            if accounts.is_none() {
                return Err(retry(
                    codes::ACCOUNTS_UNAVAILABLE,
                    "this server has no accounts: join without an account password".into(),
                ));
            }
            let Some(ke1) = crypto::unb64(ke1) else {
                return Err(retry(
                    codes::BAD_PACKET,
                    "auth.account_ke1 is not base64".into(),
                ));
            };
            return Ok(Plan::Login {
                account: Box::new(account),
                ke1,
            });
        }
        let reserved = accounts.is_some_and(|a| a.reserved(name));
        if let Some(cert) = self.peer_cert() {
            let bound = accounts
                .and_then(|a| a.cert_account(&cert.fp))
                .filter(|acc| name_key(acc) == key);
            if let Some(acc) = bound {
                return Ok(Plan::Cert(acc));
            }
            let certified = cert.names.iter().any(|n| name_key(n) == key);
            if !certified {
                let first = cert.names.first().map(|n| sanitize(n).into_owned());
                return Err(retry(
                    codes::NAME_NOT_CERTIFIED,
                    format!(
                        "your client certificate is for {}, not {shown}: join as {}, or log in to the account {shown} \
                         with its password (and bind this certificate to it with /certfp add)",
                        first.as_deref().unwrap_or("no name"),
                        first.as_deref().unwrap_or("the certificate's name"),
                    ),
                ));
            }
        }
        if account.is_some() {
            return Err(retry(
                codes::NAME_REGISTERED,
                format!(
                    "the name {shown} is registered: log in with its password (join asks for it on a terminal; \
                     or --account-password-file FILE, or TCPPLAY_ACCOUNT_PASSWORD), or pick another name"
                ),
            ));
        }
        if reserved {
            return Err(retry(
                codes::NAME_REGISTERED,
                format!(
                    "the name {shown} is kept for an operator of this server: pick another name"
                ),
            ));
        }
        Ok(Plan::Guest)
    }

    /// Carry out `plan` for `name`: who the member is.
    pub(super) async fn identify(&mut self, name: &str, plan: Plan) -> Result<Identity, End> {
        let cert = self.peer_cert().map(|c| c.fp.clone());
        let account = match plan {
            Plan::Guest => None,
            Plan::Cert(acc) => Some(acc),
            Plan::Login { account, ke1 } => Some(self.account_login(name, *account, ke1).await?),
        };
        Ok(Identity { account, cert })
    }

    /// The account login: KE2 out, KE3 in; the account's name, or the
    /// connection ends with the one answer for "no such account" and
    /// "wrong password".
    async fn account_login(
        &mut self,
        name: &str,
        account: Option<(String, AccountRecord)>,
        ke1: Vec<u8>,
    ) -> Result<String, End> {
        let Some(accounts) = self.ctx.accounts.clone() else {
            return Err(End::Protocol("no accounts"));
        };
        let Some(binding) = self.bound.as_ref().and_then(|b| b.binding) else {
            self.close_with(Packet::error(
                codes::BAD_PACKET,
                "this connection's TLS session gave no channel binding; the login cannot be bound to it",
            ))
            .await;
            return Err(End::Protocol("no channel binding"));
        };
        let ticket = match self.ctx.throttle.start(self.peer.ip()) {
            Ok(t) => t,
            Err(left) => {
                self.count(Limit::AuthBlocked);
                let why = format!(
                    "too many failed logins from your address: try again in {} s",
                    left.as_secs().max(1)
                );
                self.close_with(refusal(codes::AUTH_THROTTLED, why)).await;
                return Err(End::Protocol("auth throttled"));
            }
        };
        if let Err(left) = accounts.may_try(name) {
            self.count(Limit::AuthBlocked);
            ticket.succeeded();
            let why = format!(
                "too many failed logins to the account {}: try again in {} s",
                sanitize(name),
                left.as_secs().max(1)
            );
            self.close_with(refusal(codes::AUTH_THROTTLED, why)).await;
            return Err(End::Protocol("account throttled"));
        }
        let key = name_key(name);
        let record = account.as_ref().map(|(_, r)| r);
        let Ok(server) = AccountLogin::start(accounts.setup(), record, &ke1, &key, &binding) else {
            let e = Packet::error(
                codes::BAD_PACKET,
                "the account login's first message (account_ke1) is malformed",
            );
            self.close_with(e).await;
            return Err(End::Protocol("bad account ke1"));
        };
        let step = Packet::AuthStep(AuthStep {
            account_ke2: Some(crypto::b64(&server.ke2)),
            ..Default::default()
        });
        self.send(&step).await.map_err(End::Io)?;
        let ke3 = self.account_ke3().await;
        let proven = matches!(&ke3, Ok(Some(k)) if server.finish(k, &key, &binding).is_ok());
        if let (true, Some((registered, _))) = (proven, account) {
            ticket.succeeded();
            accounts.succeeded(name);
            tracing::info!(peer = %self.peer, account = %sanitize(&registered), "logged in to an account");
            return Ok(registered);
        }
        accounts.failed(name);
        self.count(Limit::AuthFailures);
        tracing::warn!(peer = %self.peer, limit = "auth_failures", "account login failed (no such account, or a wrong password)");
        ke3?;
        let why = "the account login did not verify: this name has no account here, or the password is wrong".to_string();
        self.close_with(refusal(codes::ACCOUNT_AUTH_FAILED, why))
            .await;
        Err(End::Protocol("account auth failed"))
    }

    /// The client's account KE3 (`None`: it sent something else).
    async fn account_ke3(&mut self) -> Result<Option<Vec<u8>>, End> {
        loop {
            match self.next_packet().await? {
                Some(Packet::AuthStep(AuthStep {
                    account_ke3: Some(k),
                    ..
                })) => return Ok(crypto::unb64(&k)),
                Some(Packet::Ping(p)) => self.send(&Packet::Pong(p)).await.map_err(End::Io)?,
                _ => return Ok(None),
            }
        }
    }
}
