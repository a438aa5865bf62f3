//! The in-memory event store, answering as DataCollect's server does
//! (`packages/backend` over `PostgresEventStorageAdapter`): a pushed event
//! keeps its server-side fields only (`guid`, `entityGuid`, `type`, `data`,
//! `timestamp`, `userId`) and gets `syncLevel: 1`; a `guid` already stored
//! is kept as first stored; a pull answers the events strictly later than
//! `since`, oldest first, a page of [`PAGE`] with `nextCursor` (the page's
//! last timestamp, `null` on a short page).
//!
//! Unlike DataCollect's server, nothing is dropped without the client
//! knowing: a push with an event it cannot store is refused whole (400),
//! a full store refuses the push (507) and keeps every event it has, and
//! events sharing the timestamp that ends a page are all on that page (with
//! `timestamp > since`, DataCollect's next page would skip them). So that a
//! page stays small, at most [`MAX_AT_ONE_INSTANT`] events of an app share
//! one millisecond; a push past it is refused whole (507) too.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};

/// Events per pull page (DataCollect's `getEventsSincePagination(since, 10)`).
pub(crate) const PAGE: usize = 10;
/// Events of one app sharing one millisecond: a pull page holds all of
/// those sharing its last timestamp, so at most this many plus [`PAGE`].
pub(crate) const MAX_AT_ONE_INSTANT: usize = 100 * PAGE;
/// `SyncLevel.REMOTE`: synced with the sync server.
const REMOTE: u64 = 1;

/// Why a push or pull is refused; every refusal stores nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request is malformed (400).
    Bad(String),
    /// The app's store is full (507).
    Full { stored: usize, limit: usize },
    /// More than [`MAX_AT_ONE_INSTANT`] events would share the millisecond
    /// `at` (507).
    Crowded { at: i64 },
}

/// One app's events, in timestamp order (then arrival).
#[derive(Debug, Default)]
pub(crate) struct AppEvents {
    by_time: BTreeMap<(i64, u64), Value>,
    guids: HashSet<String>,
    /// How many events each millisecond has.
    at_instant: HashMap<i64, usize>,
    arrivals: u64,
}

impl AppEvents {
    /// Stores the new events of a push (all, or none when one is refused or
    /// they do not fit in `limit`); returns how many were new.
    pub(crate) fn push(&mut self, events: &[Value], limit: usize) -> Result<usize, Refusal> {
        let mut fresh = Vec::new();
        let mut in_push = HashSet::new();
        for (i, event) in events.iter().enumerate() {
            let (millis, stored) =
                server_fields(event).map_err(|e| Refusal::Bad(format!("events[{i}]: {e}")))?;
            let guid = stored["guid"].as_str().unwrap_or_default().to_owned();
            if self.guids.contains(&guid) || !in_push.insert(guid) {
                continue;
            }
            fresh.push((millis, stored));
        }
        if self.guids.len() + fresh.len() > limit {
            return Err(Refusal::Full {
                stored: self.guids.len(),
                limit,
            });
        }
        let mut added: HashMap<i64, usize> = HashMap::new();
        for (millis, _) in &fresh {
            *added.entry(*millis).or_default() += 1;
        }
        for (&at, &n) in &added {
            if self.at_instant.get(&at).copied().unwrap_or_default() + n > MAX_AT_ONE_INSTANT {
                return Err(Refusal::Crowded { at });
            }
        }
        let new = fresh.len();
        for (millis, stored) in fresh {
            self.arrivals += 1;
            *self.at_instant.entry(millis).or_default() += 1;
            if let Some(guid) = stored["guid"].as_str() {
                self.guids.insert(guid.to_owned());
            }
            self.by_time.insert((millis, self.arrivals), stored);
        }
        Ok(new)
    }

    /// The page after `since` (`None`: from the start).
    pub(crate) fn pull(&self, since: Option<i64>) -> Value {
        let start = since.map_or(i64::MIN, |s| s.saturating_add(1));
        let mut page: Vec<&Value> = Vec::new();
        let mut last = None;
        for ((millis, _), event) in self.by_time.range((start, 0)..) {
            if page.len() >= PAGE && last != Some(*millis) {
                break;
            }
            page.push(event);
            last = Some(*millis);
        }
        let cursor = match last {
            Some(millis) if page.len() >= PAGE => Value::String(format_millis(millis)),
            _ => Value::Null,
        };
        json!({"events": page, "nextCursor": cursor})
    }
}

/// The event as DataCollect's server stores it, and its time in ms.
fn server_fields(event: &Value) -> Result<(i64, Value), String> {
    let Value::Object(event) = event else {
        return Err("not an object".into());
    };
    let guid = match event.get("guid") {
        Some(Value::String(g)) if !g.is_empty() => g.clone(),
        _ => return Err("`guid` must be a non-empty string".into()),
    };
    let millis = match event.get("timestamp") {
        Some(Value::String(t)) => parse_rfc3339(t).ok_or("`timestamp` is not an ISO 8601 date and time")?,
        _ => return Err("`timestamp` must be a string".into()),
    };
    let mut stored = Map::new();
    stored.insert("guid".into(), Value::String(guid));
    for field in ["entityGuid", "type", "userId"] {
        match event.get(field) {
            None | Some(Value::Null) => {
                stored.insert(field.into(), Value::Null);
            }
            Some(Value::String(s)) => {
                stored.insert(field.into(), Value::String(s.clone()));
            }
            Some(_) => return Err(format!("`{field}` must be a string")),
        }
    }
    stored.insert("data".into(), event.get("data").cloned().unwrap_or(Value::Null));
    stored.insert("timestamp".into(), Value::String(format_millis(millis)));
    stored.insert("syncLevel".into(), Value::from(REMOTE));
    Ok((millis, Value::Object(stored)))
}

/// `since` as DataCollect's server reads it: absent or empty is the start.
pub(crate) fn parse_since(since: Option<&str>) -> Result<Option<i64>, Refusal> {
    match since.map(str::trim) {
        None | Some("") => Ok(None),
        // A `+` offset arrives as a space when the client does not encode it.
        Some(text) => parse_rfc3339(&text.replace(' ', "+"))
            .map(Some)
            .ok_or_else(|| Refusal::Bad("`since` is not an ISO 8601 date and time".into())),
    }
}

/// Milliseconds since 1970 of an RFC 3339 date-time
/// (`YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`), sub-milliseconds dropped as
/// JavaScript's `Date` drops them.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &text[start..i.min(start + 3)];
        millis = digits.parse::<i64>().ok()? * 10_i64.pow(3 - digits.len() as u32);
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset * 60;
    Some(secs * 1000 + millis)
}

/// `toISOString()`: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn format_millis(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
