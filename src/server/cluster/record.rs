//! A secure room's record, shared by the nodes through Redis.

use super::{key_err, Cluster};

impl Cluster {
    /// Secure rooms: the room's record the cluster keeps, if any.
    pub(crate) async fn room_record(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, String> {
        let mut con = self.con();
        let r: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.record())
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(r.map(zeroize::Zeroizing::new))
    }

    /// Secure rooms: keep this record for the other nodes, unless one is
    /// kept already (false then).
    pub(crate) async fn keep_room_record(&self, record: &[u8]) -> Result<bool, String> {
        let mut con = self.con();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.record())
            .arg(record)
            .arg("NX")
            .query_async(&mut con)
            .await
            .map_err(key_err)?;
        Ok(set.is_some())
    }
}
