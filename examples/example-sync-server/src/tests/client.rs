//! Pull and push as DataCollect's client (`InternalSyncManager` over
//! `IndexedDbEventStorageAdapter`, read from idpass-data-collect) meets
//! them: its devices keep events under an auto-increment key `id` and push
//! them as stored (with `id` and `syncLevel: 0`); a pull is applied with
//! IndexedDB's `put` of the event as received, skipped when its `guid` is
//! known; the next pull starts after the newest event timestamp applied.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{bearer, call, clock, server};
use crate::events::{AppEvents, MAX_AT_ONE_INSTANT, PAGE, Refusal, format_millis, parse_rfc3339};

/// One device's IndexedDB event store and sync state, as the client keeps
/// them.
#[derive(Default)]
struct Device {
    /// The `events` object store: `keyPath: "id", autoIncrement`.
    events: BTreeMap<u64, Value>,
    next_id: u64,
    last_local_sync: String,
    last_remote_sync: String,
}

impl Device {
    /// `put` into the store: an `id` in the value is the key (replacing the
    /// record there); without one a new key is made. Like the store's
    /// unique `guid` index, a second record with a known `guid` is refused.
    fn put(&mut self, mut event: Value) {
        let guid = event["guid"].clone();
        let id = match event.get("id").and_then(Value::as_u64) {
            Some(id) => id,
            None => {
                self.next_id += 1;
                event["id"] = json!(self.next_id);
                self.next_id
            }
        };
        self.next_id = self.next_id.max(id);
        let clash = self.events.iter().any(|(k, e)| *k != id && e["guid"] == guid);
        assert!(!clash, "the guid index refuses a second {guid}");
        self.events.insert(id, event);
    }

    /// A form filled on this device.
    fn record(&mut self, guid: &str, timestamp: &str) {
        self.put(json!({
            "guid": guid, "entityGuid": format!("entity-{guid}"), "type": "create-individual",
            "data": {"name": guid}, "timestamp": timestamp, "userId": "ana", "syncLevel": 0,
        }));
    }

    fn since(&self, since: &str) -> Vec<Value> {
        let mut found: Vec<Value> = self
            .events
            .values()
            .filter(|e| e["timestamp"].as_str().unwrap_or_default() > since)
            .cloned()
            .collect();
        found.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
        found
    }

    fn guids(&self) -> Vec<String> {
        let mut guids: Vec<String> = self
            .events
            .values()
            .map(|e| e["guid"].as_str().unwrap().to_owned())
            .collect();
        guids.sort();
        guids
    }

    /// `InternalSyncManager.sync()`: push in chunks of 10, then pull pages
    /// until `nextCursor` is null.
    async fn sync(&mut self, app: &axum::Router, now: &str) {
        let auth = bearer("ana@example.org");
        let local = self.since(&self.last_local_sync.clone());
        for chunk in local.chunks(10) {
            let pushed = call(
                app,
                Method::POST,
                "/api/sync/push",
                &auth,
                Some(json!({"events": chunk, "configId": "field"})),
            )
            .await;
            assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.json);
        }
        for event in self.events.values_mut() {
            event["syncLevel"] = json!(1);
        }
        self.last_local_sync = now.to_owned();
        let mut cursor = Some(self.last_remote_sync.clone());
        while let Some(since) = cursor {
            let uri = format!("/api/sync/pull?since={since}&configId=field");
            let pulled = call(app, Method::GET, &uri, &auth, None).await;
            assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.json);
            let mut events = pulled.json["events"].as_array().unwrap().clone();
            events.sort_by_key(|e| parse_rfc3339(e["timestamp"].as_str().unwrap()).unwrap());
            if let Some(last) = events.last() {
                let latest = last["timestamp"].as_str().unwrap().to_owned();
                for mut event in events {
                    event["syncLevel"] = json!(1);
                    if self.events.values().any(|e| e["guid"] == event["guid"]) {
                        continue;
                    }
                    self.put(event);
                }
                self.last_remote_sync = latest;
            }
            cursor = pulled.json["nextCursor"].as_str().map(str::to_owned);
        }
    }
}

fn at(second: u64) -> String {
    format_millis(1_790_000_000_000 + second as i64 * 1000)
}

#[tokio::test]
async fn two_devices_syncing_as_datacollect_lose_no_events() {
    let app = server(clock());
    let (mut a, mut b) = (Device::default(), Device::default());
    // Each device fills forms offline: their local keys 1, 2, ... overlap.
    for i in 0..25 {
        a.record(&format!("a{i:02}"), &at(i));
    }
    a.sync(&app, &at(26)).await;
    for i in 0..25 {
        b.record(&format!("b{i:02}"), &at(30 + i));
    }
    b.sync(&app, &at(60)).await;
    a.sync(&app, &at(61)).await;
    a.record("a25", &at(62));
    a.sync(&app, &at(63)).await;
    b.sync(&app, &at(64)).await;
    let all: Vec<String> = (0..26)
        .map(|i| format!("a{i:02}"))
        .chain((0..25).map(|i| format!("b{i:02}")))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(b.guids(), all, "device b");
    assert_eq!(a.guids(), all, "device a");
    // Each device's own forms are still its own, unchanged.
    for device in [&a, &b] {
        for event in device.events.values() {
            assert_eq!(event["data"]["name"], event["guid"]);
        }
    }
}

#[tokio::test]
async fn pull_answers_server_side_fields_only_with_sync_level_set_on_push() {
    let app = server(clock());
    let pushed = json!({
        "id": 7, "guid": "e1", "entityGuid": "p1", "type": "create-individual",
        "data": {"name": "Ana"}, "timestamp": "2026-03-01T10:00:00+02:00", "userId": "u1",
        "syncLevel": 0, "localOnly": "x",
    });
    let push = call(
        &app,
        Method::POST,
        "/api/sync/push",
        &bearer("a@b"),
        Some(json!({"events": [pushed], "configId": "field"})),
    )
    .await;
    assert_eq!(push.status, StatusCode::OK);
    let pulled = call(
        &app,
        Method::GET,
        "/api/sync/pull?configId=field",
        &bearer("a@b"),
        None,
    )
    .await;
    assert_eq!(
        pulled.json,
        json!({"events": [{
            "guid": "e1", "entityGuid": "p1", "type": "create-individual", "data": {"name": "Ana"},
            "timestamp": "2026-03-01T08:00:00.000Z", "userId": "u1", "syncLevel": 1,
        }], "nextCursor": null})
    );
}

#[tokio::test]
async fn pull_honours_since_strictly_in_order_with_pages_and_next_cursor() {
    let app = server(clock());
    // Pushed out of order, with three events sharing the time at the end of
    // the first page, and a re-push of a known guid (kept as first stored).
    let mut events: Vec<Value> = (0..20u64)
        .rev()
        .map(|i| {
            let second = if (8..11).contains(&i) { 8 } else { i };
            json!({"guid": format!("e{i:02}"), "timestamp": at(second), "data": {}})
        })
        .collect();
    events.push(json!({"guid": "e00", "timestamp": at(50), "data": {"changed": true}}));
    let push = call(
        &app,
        Method::POST,
        "/api/sync/push",
        &bearer("a@b"),
        Some(json!({"events": events, "configId": "field"})),
    )
    .await;
    assert_eq!(push.status, StatusCode::OK);
    let page = |since: &str| {
        let uri = format!("/api/sync/pull?configId=field&since={since}");
        let app = app.clone();
        async move { call(&app, Method::GET, &uri, &bearer("a@b"), None).await.json }
    };
    let guids = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["guid"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = page("").await;
    // Ten, plus the two sharing the tenth's time: none is skipped by the
    // next page's `timestamp > since`. Oldest first; the same time in the
    // order pushed.
    let expected: Vec<String> = [0, 1, 2, 3, 4, 5, 6, 7, 10, 9, 8]
        .iter()
        .map(|i| format!("e{i:02}"))
        .collect();
    assert_eq!(guids(&first), expected);
    assert!(guids(&first).len() > PAGE);
    assert_eq!(first["nextCursor"], json!(at(8)));
    assert_eq!(first["events"][0]["data"], json!({}), "the first e00 is kept");
    let second = page(first["nextCursor"].as_str().unwrap()).await;
    let expected: Vec<String> = (11..20).map(|i| format!("e{i:02}")).collect();
    assert_eq!(guids(&second), expected);
    assert_eq!(second["nextCursor"], Value::Null, "a short page ends the pull");
    // Strictly later: `since` equal to an event's time leaves it out.
    assert_eq!(guids(&page(&at(19)).await), Vec::<String>::new());
    assert_eq!(guids(&page(&at(18)).await), vec!["e19".to_owned()]);
    // `since` that is not a time is refused, not read as the start.
    let bad = call(
        &app,
        Method::GET,
        "/api/sync/pull?configId=field&since=yesterday",
        &bearer("a@b"),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["error"].as_str().unwrap().contains("since"));
}

#[tokio::test]
async fn a_full_store_refuses_the_push_and_drops_nothing() {
    // The test server keeps 100 events per app.
    let app = server(clock());
    let batch = |from: u64, n: u64| -> Value {
        let events: Vec<Value> = (from..from + n)
            .map(|i| json!({"guid": format!("e{i}"), "timestamp": at(i), "data": {}}))
            .collect();
        json!({"events": events, "configId": "field"})
    };
    let push = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::POST, "/api/sync/push", &bearer("a@b"), Some(body)).await }
    };
    assert_eq!(push(batch(0, 95)).await.status, StatusCode::OK);
    let full = push(batch(95, 10)).await;
    assert_eq!(full.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(full.json["error"].as_str().unwrap().contains("full"));
    // Nothing of the refused push was stored, nothing older was dropped.
    let mut seen = Vec::new();
    let mut cursor = Some(String::new());
    while let Some(since) = cursor {
        let uri = format!("/api/sync/pull?configId=field&since={since}");
        let pulled = call(&app, Method::GET, &uri, &bearer("a@b"), None).await.json;
        seen.extend(
            pulled["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["guid"].clone()),
        );
        cursor = pulled["nextCursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<Value> = (0..95).map(|i| json!(format!("e{i}"))).collect();
    assert_eq!(seen, expected);
    // What still fits is taken.
    assert_eq!(push(batch(95, 5)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_push_with_an_event_it_cannot_store_is_refused_whole() {
    let app = server(clock());
    for bad in [
        json!({"timestamp": at(1)}),
        json!({"guid": "", "timestamp": at(1)}),
        json!({"guid": "x", "timestamp": "soon"}),
        json!({"guid": "x", "timestamp": at(1), "type": 5}),
        json!("not an event"),
    ] {
        let body = json!({"events": [{"guid": "ok", "timestamp": at(0)}, bad], "configId": "field"});
        let refused = call(&app, Method::POST, "/api/sync/push", &bearer("a@b"), Some(body)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(refused.json["error"].as_str().unwrap().starts_with("events[1]"));
    }
    let pulled = call(
        &app,
        Method::GET,
        "/api/sync/pull?configId=field",
        &bearer("a@b"),
        None,
    )
    .await;
    assert_eq!(pulled.json["events"], json!([]));
}

#[test]
fn timestamps_read_and_print_as_javascript_dates_do() {
    let ms = |t: &str| parse_rfc3339(t);
    assert_eq!(ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(ms("1970-01-01T00:00:00.0015Z"), Some(1));
    assert_eq!(ms("2026-03-01T10:00:00+02:00"), ms("2026-03-01T08:00:00.000Z"));
    assert_eq!(ms("1969-12-31T23:59:59.999Z"), Some(-1));
    assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    let t = ms("2024-02-29T23:59:59.123Z").unwrap();
    assert_eq!(format_millis(t), "2024-02-29T23:59:59.123Z");
    for bad in [
        "",
        "2025-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00Z junk",
        "+2026-01-01T00:00:00Z",
    ] {
        assert_eq!(ms(bad), None, "{bad:?}");
    }
}

#[test]
fn a_pull_page_stays_small_however_many_events_share_a_timestamp() {
    // A page holds every event sharing its last timestamp (else the next
    // one, `timestamp > since`, would skip some): one user pushing 100,000
    // events at one instant made every pull of the app answer all of them.
    let mut store = AppEvents::default();
    let event = |i: usize| json!({"guid": format!("e{i}"), "timestamp": at(1), "data": {}});
    let crowd: Vec<Value> = (0..MAX_AT_ONE_INSTANT).map(event).collect();
    assert_eq!(store.push(&crowd, 100_000), Ok(MAX_AT_ONE_INSTANT));
    let one_more = [
        json!({"guid": "later", "timestamp": at(2)}),
        event(MAX_AT_ONE_INSTANT),
    ];
    let at_one = parse_rfc3339(&at(1)).unwrap();
    assert_eq!(
        store.push(&one_more, 100_000),
        Err(Refusal::Crowded { at: at_one })
    );
    // Refused whole: nothing of it stored; the page is bounded.
    let page = store.pull(None);
    let events = page["events"].as_array().unwrap();
    assert!(events.len() <= MAX_AT_ONE_INSTANT + PAGE);
    assert_eq!(events.len(), MAX_AT_ONE_INSTANT);
    assert_eq!(store.pull(Some(at_one))["events"], json!([]));
    // Other instants still take events, and a guid already stored is no crowd.
    assert_eq!(
        store.push(&[json!({"guid": "later", "timestamp": at(2)}), event(0)], 100_000),
        Ok(1)
    );
}
