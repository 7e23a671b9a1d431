//! The cluster's key layout under its prefix, and the heartbeat's value:
//! the only place that names Redis keys (`check --cluster` reads them too).

/// Key names under the cluster's prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// A room's stream (`room` is its key: one spelling per room).
    pub(crate) fn log(&self, room: &str) -> String {
        self.key(&format!("room:{room}:log"))
    }

    /// A room's members: name → the run of the node that has them.
    pub(crate) fn members(&self, room: &str) -> String {
        self.key(&format!("room:{room}:members"))
    }

    /// A node run's inbox stream (direct messages, kicks).
    pub(crate) fn inbox(&self, run: &str) -> String {
        self.key(&format!("inbox:{run}"))
    }

    /// A node's heartbeat: `RUN MS`.
    pub(crate) fn node(&self, node: &str) -> String {
        self.key(&format!("node:{node}"))
    }

    /// Every node's heartbeat, for SCAN.
    pub(crate) fn nodes_pattern(&self) -> String {
        self.key("node:*")
    }

    /// A claimed name (by its key): the run that holds it.
    pub(crate) fn name(&self, name_key: &str) -> String {
        self.key(&format!("name:{name_key}"))
    }

    /// Every claimed name, for SCAN.
    pub(crate) fn names_pattern(&self) -> String {
        self.key("name:*")
    }

    /// What `check --cluster` writes (and lets expire) to see that Redis
    /// takes writes.
    pub(crate) fn check_probe(&self) -> String {
        self.key("check:probe")
    }

    /// A run's last appended sequence number (entries land once).
    pub(crate) fn seq(&self, run: &str) -> String {
        self.key(&format!("seq:{run}"))
    }

    /// A run declared dead (it appends nothing more; it learns it).
    pub(crate) fn dead(&self, run: &str) -> String {
        self.key(&format!("dead:{run}"))
    }

    /// The cluster's rooms: key → name as shown.
    pub(crate) fn rooms(&self) -> String {
        self.key("rooms")
    }

    /// Who made each room the cluster has: room key → `account:KEY`, a
    /// member's `member:RUN#ID`, or `-` (nobody: the room had rules).
    pub(crate) fn makers(&self) -> String {
        self.key("rooms:makers")
    }

    /// A room's topic.
    pub(crate) fn topic(&self, room: &str) -> String {
        self.key(&format!("room:{room}:topic"))
    }

    /// The prefix itself (scripts build a run's node and dead keys).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A secure room's record, shared by the nodes.
    pub(crate) fn record(&self) -> String {
        self.key("secure:record")
    }

    /// Accounts: the OPAQUE server setup (one for the cluster).
    pub(crate) fn accounts_setup(&self) -> String {
        self.key("accounts:setup")
    }

    /// Accounts: a hash, account key → its name and record.
    pub(crate) fn accounts(&self) -> String {
        self.key("accounts:records")
    }

    /// Accounts: a hash, certificate fingerprint → account key.
    pub(crate) fn account_certs(&self) -> String {
        self.key("accounts:certs")
    }

    /// Rooms' rules: a hash, room key → rules (JSON).
    pub(crate) fn room_rules(&self) -> String {
        self.key("accounts:rules")
    }

    /// Accounts: a hash, `a:KEY`, `c:FP` or `r:ROOM` → the version of its
    /// last change (a deleted one's too: the tombstone a node's older copy
    /// cannot undo).
    pub(crate) fn account_stamps(&self) -> String {
        self.key("accounts:stamps")
    }

    /// Accounts: made anew after Redis lost them; a node whose copy was
    /// not written back into this one writes it back.
    pub(crate) fn accounts_epoch(&self) -> String {
        self.key("accounts:epoch")
    }

    /// Bumped on every change of the three above: nodes re-read them when
    /// it moves.
    pub(crate) fn accounts_version(&self) -> String {
        self.key("accounts:version")
    }
}

/// A heartbeat's value: the run and its clock.
pub(crate) fn heartbeat(run: &str, ms: u64) -> String {
    format!("{run} {ms}")
}

/// A heartbeat's run and clock (`None` when it is not one).
pub(crate) fn parse_heartbeat(beat: &str) -> Option<(&str, u64)> {
    let (run, ms) = beat.split_once(' ')?;
    Some((run, ms.parse().ok()?)).filter(|(r, _)| !r.is_empty())
}

/// The node a run (`NODE/STARTED_MS`) belongs to.
pub(crate) fn run_node(run: &str) -> &str {
    run.split('/').next().unwrap_or(run)
}
