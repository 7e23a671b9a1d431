//! Redis's stream replies taken apart into entries (an id and its fields
//! as text), without the generic maps, and line ids from stream ids. What
//! an entry means is [`super::entry`]'s business.

use redis::Value;

/// A stream id as a line id: `ms × 4096 + seq` (exact in a JSON number up
/// to the year 2039 and 4096 lines per millisecond per room).
pub(crate) fn line_id(id: &str) -> Option<u64> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    ms.checked_mul(4096)?.checked_add(seq.min(4095))
}

/// The stream id of line id `id`.
pub(crate) fn stream_id(id: u64) -> String {
    format!("{}-{}", id / 4096, id % 4096)
}

/// One stream entry as Redis gave it: its id and its fields as text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Entry {
    pub id: String,
    fields: Vec<(String, String)>,
}

impl Entry {
    /// Move a field's value out (the entry is read once: no copy).
    pub(super) fn take(&mut self, name: &str) -> Option<String> {
        self.fields
            .iter_mut()
            .find(|(k, _)| k == name)
            .map(|(_, v)| std::mem::take(v))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An entry made of `fields` (tests).
    #[cfg(test)]
    pub fn from_fields(id: &str, fields: &[(&str, &str)]) -> Entry {
        Entry {
            id: id.to_string(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

fn bulk_text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// `[[id, [k, v, …]], …]` (XRANGE, XREVRANGE, one stream of XREAD).
pub(crate) fn entries(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let mut pair = pair.into_iter();
            let id = bulk_text(pair.next()?)?;
            let Value::Array(kv) = pair.next()? else {
                return None;
            };
            let mut fields = Vec::with_capacity(kv.len() / 2);
            let mut kv = kv.into_iter();
            while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                if let (Some(k), Some(v)) = (bulk_text(k), bulk_text(v)) {
                    fields.push((k, v));
                }
            }
            Some(Entry { id, fields })
        })
        .collect()
}

/// XREAD's answer: each stream's key and its new entries (none on a timeout).
pub(crate) fn read_reply(v: Value) -> Vec<(String, Vec<Entry>)> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Array(keys) => keys
            .into_iter()
            .filter_map(|k| match k {
                Value::Array(kv) if kv.len() == 2 => {
                    let mut kv = kv.into_iter();
                    Some((kv.next()?, kv.next()?))
                }
                _ => None,
            })
            .collect(),
        Value::Map(m) => m,
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, e)| Some((bulk_text(k)?, entries(e))))
        .collect()
}
