//! Names that belong to someone. An account is a registered name whose
//! holder logs in with OPAQUE (the server keeps only the record: see
//! `crypto::account`), or with a client certificate bound to it (`/certfp
//! add`). Guests cannot take an account's name, nor a name listed as an
//! operator. The accounts also keep the rooms' rules (bans, mutes,
//! operators, modes), so this type is the rooms' [`Owners`].
//!
//! Every account and binding is read into memory at start (a lookup is a
//! map read, the same for a name with and without an account), and each
//! change is written through to the database ([`store`]) at once.
//! Guessing is throttled per account (failures per `limits.auth_block`,
//! as per address) and registrations per address.

mod bounds;
mod copy;
mod durable;
mod grants;
mod signin;
pub(crate) use signin::fragment as signin_fragment;
mod store;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::Registration;
use crate::crypto::account::{AccountRecord, AccountSetup};
use crate::names::{name_key, sanitize, NameKeys};
use crate::server::cluster::accounts::Write;
use crate::server::cluster::Cluster;
use crate::server::room::rules::{Owners, RoomRules};
use crate::server::room::Hub;

/// Most certificates one account may bind.
pub(crate) const MAX_CERTS_PER_ACCOUNT: usize = 10;

/// Registrations one address may make per [`REGISTRATION_WINDOW`].
const REGISTRATIONS_PER_ADDRESS: usize = 3;
const REGISTRATION_WINDOW: Duration = Duration::from_secs(600);

/// Most accounts or addresses a throttle remembers (then it forgets the
/// oldest windows first).
const MAX_TRACKED: usize = 10_000;

struct Entry {
    name: String,
    record: AccountRecord,
    /// Its name's keys, for [`NameKeys::clash`].
    keys: NameKeys,
}

impl Entry {
    fn new(name: String, record: AccountRecord) -> Entry {
        let keys = NameKeys::of(&name);
        Entry { name, record, keys }
    }
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Entry>,
    /// Certificate fingerprint → account key.
    certs: HashMap<String, String>,
    /// Failed logins per account key: when the window began, how many.
    failures: HashMap<String, (Instant, u32)>,
    /// Registrations per address: when the window began, how many.
    registrations: HashMap<IpAddr, (Instant, usize)>,
}

/// Why an account operation was refused (its words are for the member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub String);

pub(crate) struct Accounts {
    setup: AccountSetup,
    backend: Backend,
    state: Mutex<State>,
    /// Where they are kept, for messages: a file, or the cluster's Redis.
    path: PathBuf,
    /// Cluster mode: the rooms' rules as last read from Redis, the version
    /// read, and the queue that writes rules in order.
    shared: Option<SharedState>,
    pub(crate) registration: Registration,
    /// The server's operators (account keys).
    operators: BTreeSet<String>,
    /// Every operator name (server's and rooms'): no guest may take one.
    reserved: Vec<NameKeys>,
    /// Failed logins per account before it waits, and the window.
    max_failures: u32,
    block: Duration,
    /// One-time sign-in links for the browser page.
    pub(crate) signins: signin::Signins,
    /// Most rooms whose rules are kept.
    rules_cap: usize,
}

/// Where the accounts are kept.
enum Backend {
    /// One server: SQLite.
    Local(Mutex<store::Store>),
    /// A cluster: Redis, through the cluster's connection.
    Cluster(Arc<Cluster>),
}

struct SharedState {
    rules: Mutex<HashMap<String, RoomRules>>,
    /// Rooms whose rules were changed here and are not in Redis yet (how
    /// many writes wait): a refresh keeps ours for them, not Redis's older ones.
    pending: Arc<Mutex<HashMap<String, usize>>>,
    version: AtomicU64,
    writes: mpsc::UnboundedSender<(String, String)>,
    /// The node's durable copy of everything, and the epoch of Redis's
    /// accounts it was last written into (`durable`).
    copy: Arc<Mutex<copy::Copy>>,
    epoch: Mutex<Option<String>>,
}

/// How often a cluster node looks for accounts and rules changed by others.
const REFRESH: Duration = Duration::from_secs(1);

/// An account as the cluster keeps it: its name, a newline, its record in base64.
fn encode(name: &str, record: &AccountRecord) -> String {
    format!("{name}\n{}", crate::crypto::b64(&record.to_bytes()))
}

/// An account read from Redis, checked: a valid name whose key is `key`,
/// and a record that parses.
fn decode(key: &str, value: &str) -> Option<Entry> {
    let (name, record) = value.split_once('\n')?;
    let name = crate::names::validate_name(name).ok()?;
    if name_key(&name) != key {
        return None;
    }
    let record = AccountRecord::from_bytes(&crate::crypto::unb64(record)?).ok()?;
    Some(Entry::new(name, record))
}

/// The operators' keys, and every name no guest may take.
fn operator_sets(
    operators: &[String],
    room_operators: &[String],
) -> (BTreeSet<String>, Vec<NameKeys>) {
    let ops: BTreeSet<String> = operators.iter().map(|o| name_key(o)).collect();
    let reserved = operators
        .iter()
        .chain(room_operators)
        .map(|o| NameKeys::of(o))
        .collect();
    (ops, reserved)
}

impl Accounts {
    /// Cluster mode: the accounts the cluster keeps in Redis (its setup made
    /// by the first node), read now and kept current by [`attach`](Self::attach).
    pub(crate) async fn open_cluster(
        cluster: Arc<Cluster>,
        copy_path: &Path,
        registration: Registration,
        operators: &[String],
        room_operators: &[String],
    ) -> Result<Accounts, String> {
        let say = |e: String| format!("accounts in the cluster's Redis: {e}");
        let copy = copy::Copy::open(copy_path)?;
        let offered = match copy.setup().map_err(|e| format!("{}: {e}", copy.place()))? {
            Some(kept) => kept,
            None => AccountSetup::generate().to_bytes().to_vec(),
        };
        let kept = cluster.accounts_setup(&offered).await.map_err(say)?;
        let setup = AccountSetup::from_bytes(&kept)
            .map_err(|_| say("the accounts' setup kept in Redis is damaged".into()))?;
        if copy
            .adopt(&kept)
            .map_err(|e| format!("{}: {e}", copy.place()))?
        {
            tracing::warn!("accounts: this node's copy {} was another cluster's (its setup is not the one in Redis): it now keeps this cluster's", copy.place());
        }
        let copy = Arc::new(Mutex::new(copy));
        let written_copy = copy.clone();
        let (ops, reserved) = operator_sets(operators, room_operators);
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
        let writer = cluster.clone();
        let pending: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let written = pending.clone();
        tokio::spawn(async move {
            while let Some((room, json)) = rx.recv().await {
                let w = Write::Rules {
                    room: &room,
                    json: &json,
                };
                match writer.accounts_write(w).await {
                    Ok(stamp) => durable::put(&written_copy, &w, stamp.unwrap_or(0)),
                    Err(e) => {
                        tracing::error!(room = %sanitize(&room), "accounts: cannot keep the room's rules in Redis ({e}); they hold on this node until a restart")
                    }
                }
                let mut p = written.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(n) = p.get_mut(&room) {
                    *n -= 1;
                    if *n == 0 {
                        p.remove(&room);
                    }
                }
            }
        });
        let a = Accounts {
            setup,
            backend: Backend::Cluster(cluster),
            state: Mutex::new(State::default()),
            path: PathBuf::from("the cluster's Redis"),
            shared: Some(SharedState {
                rules: Mutex::new(HashMap::new()),
                pending,
                version: AtomicU64::new(u64::MAX),
                writes: tx,
                copy,
                epoch: Mutex::new(None),
            }),
            registration,
            operators: ops,
            reserved,
            max_failures: 5,
            block: Duration::from_secs(60),
            signins: signin::Signins::default(),
            rules_cap: bounds::RULES_CAP,
        };
        a.refresh(None).await.map_err(say)?;
        Ok(a)
    }

    /// Cluster mode: look for changes made on other nodes every second,
    /// and apply a room's new rules to it here (who is now banned leaves).
    pub(crate) fn attach(self: &Arc<Self>, hub: &Arc<Hub>) {
        if self.shared.is_none() {
            return;
        }
        let me = Arc::downgrade(self);
        let hub = Arc::downgrade(hub);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let (Some(me), Some(hub)) = (me.upgrade(), hub.upgrade()) else {
                    return;
                };
                if let Err(e) = me.refresh(Some(&hub)).await {
                    tracing::debug!("accounts: not refreshed from Redis ({e})");
                }
            }
        });
    }

    /// Cluster mode: read everything again when the version moved; rooms
    /// whose rules changed get them (through `hub`).
    async fn refresh(&self, hub: Option<&Hub>) -> Result<(), String> {
        let (Backend::Cluster(c), Some(shared)) = (&self.backend, &self.shared) else {
            return Ok(());
        };
        self.restore_if_lost().await?;
        let version = c.accounts_version().await?;
        if version == shared.version.load(Ordering::Relaxed) {
            return Ok(());
        }
        let all = c.accounts_load().await?;
        if !self.same_epoch(&all) {
            // Redis lost them since: written back at the next look.
            return Ok(());
        }
        self.keep_copy(&all);
        {
            let mut st = self.state();
            st.accounts = all
                .accounts
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), decode(k, v)?)))
                .take(MAX_TRACKED * 10)
                .collect();
            st.certs = all
                .certs
                .into_iter()
                .filter(|(fp, k)| fp.len() <= 128 && st.accounts.contains_key(k))
                .collect();
        }
        let mut fresh: HashMap<String, RoomRules> = all
            .rules
            .iter()
            .filter_map(|(room, json)| Some((room.clone(), serde_json::from_str(json).ok()?)))
            .collect();
        let changed: Vec<(String, RoomRules)> = {
            let pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            let mut cached = shared.rules.lock().unwrap_or_else(|e| e.into_inner());
            // Ours, on their way to Redis, win over what Redis had before them.
            for room in pending.keys() {
                match cached.get(room) {
                    Some(r) => fresh.insert(room.clone(), r.clone()),
                    None => fresh.remove(room),
                };
            }
            let changed = fresh
                .iter()
                .filter(|(room, r)| cached.get(*room) != Some(*r))
                .map(|(room, r)| (room.clone(), r.clone()))
                .collect();
            *cached = fresh;
            changed
        };
        if let Some(hub) = hub {
            for (room, rules) in changed {
                hub.apply_rules(&room, rules);
            }
        }
        shared.version.store(all.version, Ordering::Relaxed);
        Ok(())
    }

    /// Cluster mode: read the account called `name` (and the certificate
    /// `fp`'s binding) from Redis now, so that a login here sees what
    /// another node registered a moment ago.
    pub(crate) async fn refresh_for_login(&self, name: &str, fp: Option<&str>) {
        let Backend::Cluster(c) = &self.backend else {
            return;
        };
        if let Err(e) = self.restore_if_lost().await {
            tracing::debug!("accounts: not checked against Redis ({e})");
            return;
        }
        let key = name_key(name);
        match c.account(&key).await {
            Ok(Some(v)) => {
                if let Some(e) = decode(&key, &v) {
                    self.state().accounts.insert(key.clone(), e);
                }
            }
            Ok(None) => {
                self.state().accounts.remove(&key);
            }
            Err(e) => tracing::debug!("accounts: {key} not read from Redis ({e})"),
        }
        if let Some(fp) = fp {
            if let Ok(bound) = c.cert_account(fp).await {
                let mut st = self.state();
                match bound {
                    Some(k) if st.accounts.contains_key(&k) => {
                        st.certs.insert(fp.to_string(), k);
                    }
                    _ => {
                        st.certs.remove(fp);
                    }
                }
            }
        }
    }

    /// Open the database at `path` (created when missing).
    pub(crate) fn open(
        path: &Path,
        registration: Registration,
        operators: &[String],
        room_operators: &[String],
    ) -> Result<Accounts, String> {
        let (store, setup) = store::Store::open(path)?;
        let mut state = State::default();
        let say = |e: rusqlite::Error| format!("accounts database {}: {e}", path.display());
        for row in store.accounts().map_err(say)? {
            state
                .accounts
                .insert(row.key, Entry::new(row.name, row.record));
        }
        state.certs = store.certs().map_err(say)?.into_iter().collect();
        let (ops, reserved) = operator_sets(operators, room_operators);
        let a = Accounts {
            setup,
            backend: Backend::Local(Mutex::new(store)),
            state: Mutex::new(state),
            path: path.to_path_buf(),
            shared: None,
            registration,
            operators: ops,
            reserved,
            max_failures: 5,
            block: Duration::from_secs(60),
            signins: signin::Signins::default(),
            rules_cap: bounds::RULES_CAP,
        };
        a.sweep_rules();
        Ok(a)
    }

    /// Failed logins an account takes before it waits, within `block`
    /// (`limits.auth_failures`, `limits.auth_block`).
    pub(crate) fn with_throttle(mut self, max_failures: u32, block: Duration) -> Accounts {
        self.max_failures = max_failures.max(1);
        self.block = block.max(Duration::from_secs(1));
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The database (one server only).
    fn store(&self) -> Option<std::sync::MutexGuard<'_, store::Store>> {
        match &self.backend {
            Backend::Local(s) => Some(s.lock().unwrap_or_else(|e| e.into_inner())),
            Backend::Cluster(_) => None,
        }
    }

    /// Where they are kept, for people.
    pub(crate) fn place(&self) -> String {
        self.path.display().to_string()
    }

    pub(crate) fn setup(&self) -> &AccountSetup {
        &self.setup
    }

    pub(crate) fn count(&self) -> usize {
        self.state().accounts.len()
    }

    /// The account called `name` (its name as registered, and its record).
    pub(crate) fn lookup(&self, name: &str) -> Option<(String, AccountRecord)> {
        let st = self.state();
        st.accounts
            .get(&name_key(name))
            .map(|e| (e.name.clone(), e.record.clone()))
    }

    /// The account a client certificate is bound to (its name).
    pub(crate) fn cert_account(&self, fp: &str) -> Option<String> {
        let st = self.state();
        let key = st.certs.get(fp)?;
        st.accounts.get(key).map(|e| e.name.clone())
    }

    /// May a login to `account` start now? `Err`: how long it must wait.
    pub(crate) fn may_try(&self, account: &str) -> Result<(), Duration> {
        let st = self.state();
        match st.failures.get(&name_key(account)) {
            Some((since, n)) if *n >= self.max_failures && since.elapsed() < self.block => {
                Err(self.block - since.elapsed())
            }
            _ => Ok(()),
        }
    }

    /// A login to `account` failed (a name with no account counts too: the
    /// two must look the same).
    pub(crate) fn failed(&self, account: &str) {
        let mut st = self.state();
        if st.failures.len() >= MAX_TRACKED {
            let block = self.block;
            st.failures.retain(|_, (t, _)| t.elapsed() < block);
            if st.failures.len() >= MAX_TRACKED {
                st.failures.clear();
            }
        }
        let e = st
            .failures
            .entry(name_key(account))
            .or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.block {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }

    pub(crate) fn succeeded(&self, account: &str) {
        self.state().failures.remove(&name_key(account));
    }

    /// Does this server take registrations from its members?
    pub(crate) fn registration_open(&self) -> Result<(), (&'static str, String)> {
        use crate::protocol::codes;
        match self.registration {
            Registration::Open => Ok(()),
            Registration::Operator => Err((
                codes::REGISTRATION_CLOSED,
                "on this server accounts are made by its operator (tcpplay gen-account): ask them"
                    .into(),
            )),
            Registration::Closed => Err((
                codes::REGISTRATION_CLOSED,
                "registration is closed on this server (serve.registration)".into(),
            )),
        }
    }

    /// May `ip` register an account now (one more from it is counted)?
    pub(crate) fn may_register(&self, ip: IpAddr) -> Result<(), (&'static str, String)> {
        use crate::protocol::codes;
        self.registration_open()?;
        let key = crate::server::limits::addresses::key(ip);
        let mut st = self.state();
        if st.registrations.len() >= MAX_TRACKED {
            st.registrations
                .retain(|_, (t, _)| t.elapsed() < REGISTRATION_WINDOW);
            if st.registrations.len() >= MAX_TRACKED {
                st.registrations.clear();
            }
        }
        let e = st.registrations.entry(key).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= REGISTRATION_WINDOW {
            *e = (Instant::now(), 0);
        }
        if e.1 >= REGISTRATIONS_PER_ADDRESS {
            let left = REGISTRATION_WINDOW.saturating_sub(e.0.elapsed());
            return Err((
                codes::REGISTRATION_THROTTLED,
                format!(
                    "{REGISTRATIONS_PER_ADDRESS} accounts were registered from your address in the last {} minutes: try again in {} s",
                    REGISTRATION_WINDOW.as_secs() / 60,
                    left.as_secs().max(1)
                ),
            ));
        }
        e.1 += 1;
        Ok(())
    }

    /// Write one change: to the database, or to the cluster's Redis
    /// (`cluster`); false when a new account's name was taken meanwhile.
    async fn write(
        &self,
        cluster: Write<'_>,
        local: impl FnOnce(&store::Store) -> rusqlite::Result<()>,
    ) -> Result<bool, Refused> {
        match &self.backend {
            Backend::Local(store) => {
                let store = store.lock().unwrap_or_else(|e| e.into_inner());
                local(&store).map_err(|e| self.failed_write(e))?;
                Ok(true)
            }
            Backend::Cluster(c) => {
                let unreachable = |e: String| {
                    tracing::warn!("accounts: cannot write to the cluster's Redis ({e})");
                    Refused("the cluster cannot store it now (its Redis is unreachable): try again in a few seconds".into())
                };
                self.restore_if_lost().await.map_err(unreachable)?;
                let stamp = c.accounts_write(cluster).await.map_err(unreachable)?;
                if let Some(stamp) = stamp {
                    self.kept_write(&cluster, stamp);
                }
                Ok(stamp.is_some())
            }
        }
    }

    /// Keep `record` as the account `name` (new), or refuse.
    pub(crate) async fn register(&self, name: &str, record: AccountRecord) -> Result<(), Refused> {
        let key = name_key(name);
        let taken = || Refused(format!("the name {} is registered already", sanitize(name)));
        if self.reserved(name) {
            return Err(taken());
        }
        let value = encode(name, &record);
        let fresh = self
            .write(
                Write::New {
                    key: &key,
                    value: &value,
                },
                |s| s.put(&key, name, &record),
            )
            .await?;
        if !fresh {
            return Err(taken());
        }
        self.state()
            .accounts
            .insert(key, Entry::new(name.to_string(), record));
        Ok(())
    }

    /// A new record (password) for an existing account.
    pub(crate) async fn change(&self, name: &str, record: AccountRecord) -> Result<(), Refused> {
        let key = name_key(name);
        let Some(registered) = self.state().accounts.get(&key).map(|e| e.name.clone()) else {
            return Err(Refused("that account no longer exists".into()));
        };
        let value = encode(&registered, &record);
        self.write(
            Write::Replace {
                key: &key,
                value: &value,
            },
            |s| s.put(&key, &registered, &record),
        )
        .await?;
        if let Some(e) = self.state().accounts.get_mut(&key) {
            e.record = record;
        }
        // A new password signs out every waiting sign-in link.
        self.signins.forget(name);
        Ok(())
    }

    /// Drop the account (and its certificate bindings).
    pub(crate) async fn unregister(&self, name: &str) -> Result<(), Refused> {
        let key = name_key(name);
        self.write(Write::Delete { key: &key }, |s| s.delete(&key))
            .await?;
        let mut st = self.state();
        st.accounts.remove(&key);
        st.certs.retain(|_, a| *a != key);
        drop(st);
        self.signins.forget(name);
        Ok(())
    }

    /// Bind certificate `fp` to the account `name`.
    pub(crate) async fn bind_cert(&self, name: &str, fp: &str) -> Result<(), Refused> {
        let key = name_key(name);
        {
            let st = self.state();
            let have = st.certs.values().filter(|a| **a == key).count();
            if have >= MAX_CERTS_PER_ACCOUNT && st.certs.get(fp) != Some(&key) {
                return Err(Refused(format!(
                    "an account binds {MAX_CERTS_PER_ACCOUNT} certificates at most: /certfp del one first"
                )));
            }
        }
        self.write(Write::Bind { fp, key: &key }, |s| s.bind(fp, &key))
            .await?;
        self.state().certs.insert(fp.to_string(), key);
        Ok(())
    }

    /// Unbind `fp` from the account `name`; false when it was not bound to it.
    pub(crate) async fn unbind_cert(&self, name: &str, fp: &str) -> Result<bool, Refused> {
        let key = name_key(name);
        if self.state().certs.get(fp) != Some(&key) {
            return Ok(false);
        }
        self.write(Write::Unbind { fp }, |s| s.unbind(fp)).await?;
        self.state().certs.remove(fp);
        Ok(true)
    }

    pub(crate) fn certs_of(&self, name: &str) -> Vec<String> {
        let key = name_key(name);
        let mut v: Vec<String> = self
            .state()
            .certs
            .iter()
            .filter(|(_, a)| **a == key)
            .map(|(fp, _)| fp.clone())
            .collect();
        v.sort();
        v
    }

    fn failed_write(&self, e: rusqlite::Error) -> Refused {
        tracing::error!(
            "accounts database {}: cannot write ({e})",
            self.path.display()
        );
        Refused("the server could not store it (its accounts database failed; the operator's log says why)".into())
    }

    /// Provision `name` offline with `password` (`tcpplay gen-account`):
    /// Argon2id here, then the record is stored. Replaces an existing one.
    pub(crate) fn provision(&self, name: &str, password: &[u8]) -> Result<bool, String> {
        let key = name_key(name);
        let record = AccountRecord::offline(&self.setup, &key, password)
            .map_err(|e| format!("cannot make the account's record: {e}"))?;
        let existed = self.state().accounts.contains_key(&key);
        self.store()
            .ok_or("gen-account writes an accounts database, not a cluster")?
            .put(&key, name, &record)
            .map_err(|e| format!("accounts database {}: {e}", self.path.display()))?;
        self.state()
            .accounts
            .insert(key, Entry::new(name.to_string(), record));
        Ok(existed)
    }
}

impl Owners for Accounts {
    fn reserved(&self, name: &str) -> bool {
        let keys = NameKeys::of(name);
        self.reserved.iter().any(|k| k.clash(&keys))
            || self.state().accounts.values().any(|e| e.keys.clash(&keys))
    }

    fn server_operator(&self, key: &str) -> bool {
        self.operators.contains(key)
    }

    fn load(&self, room_key: &str) -> Option<RoomRules> {
        let now = crate::protocol::now_ms();
        if let Some(shared) = &self.shared {
            let cached = shared.rules.lock().unwrap_or_else(|e| e.into_inner());
            return cached.get(room_key).filter(|r| !r.stale(now)).cloned();
        }
        let json = self.store()?.rules(room_key).ok()??;
        match serde_json::from_str::<RoomRules>(&json) {
            Ok(r) if r.stale(now) => {
                let _ = self.store()?.delete_rules(room_key);
                None
            }
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(room = %sanitize(room_key), "accounts database: a room's rules do not parse ({e}); the room starts without bans");
                None
            }
        }
    }

    fn room_for(&self, room_key: &str) -> bool {
        self.has_room_for(room_key)
    }

    fn save(&self, room_key: &str, rules: &RoomRules) {
        let json = serde_json::to_string(rules).unwrap_or_default();
        if let Some(shared) = &self.shared {
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            let mut cached = shared.rules.lock().unwrap_or_else(|e| e.into_inner());
            cached.insert(room_key.to_string(), rules.clone());
            *pending.entry(room_key.to_string()).or_insert(0) += 1;
            let _ = shared.writes.send((room_key.to_string(), json));
            return;
        }
        let Some(store) = self.store() else {
            return;
        };
        if let Err(e) = store.put_rules(room_key, &json) {
            tracing::error!(room = %sanitize(room_key), "accounts database {}: cannot keep the room's rules ({e}); they hold until a restart", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(registration: Registration) -> (tempfile::TempDir, Accounts) {
        let d = tempfile::tempdir().unwrap();
        let a = Accounts::open(
            &d.path().join("a.sqlite3"),
            registration,
            &["Teacher".into()],
            &[],
        )
        .unwrap()
        .with_throttle(3, Duration::from_secs(60));
        (d, a)
    }

    #[test]
    fn failed_logins_to_one_account_make_it_wait_and_a_success_forgives() {
        let (_d, a) = open(Registration::Open);
        for _ in 0..3 {
            assert!(a.may_try("carol").is_ok());
            a.failed("Carol");
        }
        let wait = a.may_try("CAROL").unwrap_err();
        assert!(wait <= Duration::from_secs(60));
        // Another account is not held up.
        assert!(a.may_try("dave").is_ok());
        a.succeeded("carol");
        assert!(a.may_try("carol").is_ok());
    }

    #[test]
    fn registrations_are_counted_per_address_and_closed_servers_take_none() {
        let (_d, a) = open(Registration::Open);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_ADDRESS {
            assert!(a.may_register(ip).is_ok());
        }
        let (code, _) = a.may_register(ip).unwrap_err();
        assert_eq!(code, crate::protocol::codes::REGISTRATION_THROTTLED);
        assert!(a.may_register("192.0.2.8".parse().unwrap()).is_ok());
        let (_d, closed) = open(Registration::Closed);
        let (code, _) = closed.may_register(ip).unwrap_err();
        assert_eq!(code, crate::protocol::codes::REGISTRATION_CLOSED);
    }

    #[tokio::test]
    async fn accounts_and_bindings_survive_a_reopen_and_operator_names_are_reserved() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.sqlite3");
        {
            let a = Accounts::open(&path, Registration::Closed, &[], &["Teacher".into()]).unwrap();
            assert!(
                a.reserved("teacher"),
                "an operator's name, before any account"
            );
            assert!(!a.provision("carol", b"carol-password").unwrap());
            a.bind_cert("carol", "AA:BB").await.unwrap();
        }
        let a = Accounts::open(&path, Registration::Closed, &[], &[]).unwrap();
        assert_eq!(a.lookup("CAROL").map(|(n, _)| n).as_deref(), Some("carol"));
        assert_eq!(a.cert_account("AA:BB").as_deref(), Some("carol"));
        a.unregister("carol").await.unwrap();
        assert!(a.cert_account("AA:BB").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
        }
    }

    #[tokio::test]
    async fn a_look_alike_of_an_account_or_an_operator_cannot_be_registered() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.sqlite3");
        let a = Accounts::open(&path, Registration::Open, &[], &["lola".into()]).unwrap();
        a.provision("alice", b"alice-password").unwrap();
        let record = || a.state().accounts.get("alice").unwrap().record.clone();
        for fake in ["aIice", "ALICE", "ali\u{307}ce", "IoIa"] {
            assert!(
                a.register(fake, record()).await.is_err(),
                "{fake} was registered"
            );
        }
        a.register("alicia", record()).await.unwrap();
        // The real holder's login finds its own account, not a look-alike's.
        assert_eq!(a.lookup("alice").map(|(n, _)| n).as_deref(), Some("alice"));
    }

    #[test]
    fn rules_nobody_operated_for_the_stated_time_are_dropped_and_rooms_with_rules_are_capped() {
        use crate::server::room::rules::RULES_KEPT_UNOPERATED_MS;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.sqlite3");
        let now = crate::protocol::now_ms();
        let rules = |operated: Option<u64>| RoomRules {
            invite_only: true,
            operated,
            ..Default::default()
        };
        {
            let a = Accounts::open(&path, Registration::Closed, &[], &[]).unwrap();
            a.save("#old", &rules(Some(now - RULES_KEPT_UNOPERATED_MS - 1000)));
            a.save("#new", &rules(Some(now)));
            a.save("#legacy", &rules(None));
        }
        let a = Accounts::open(&path, Registration::Closed, &[], &[])
            .unwrap()
            .with_rules_cap(2);
        assert!(a.load("#old").is_none(), "dropped after the stated time");
        assert!(a.load("#new").is_some());
        let legacy = a.load("#legacy").expect("kept, and stamped now");
        assert!(legacy.operated.is_some_and(|t| t >= now));
        assert_eq!(
            a.store().unwrap().count_rules().unwrap(),
            2,
            "the row is gone"
        );
        assert!(a.room_for("#new"), "a room with rules may change them");
        assert!(!a.room_for("#third"), "past the cap, a new room keeps none");
    }
}
