//! The streaming scan for a top-level member: found wherever it stands among
//! the top-level members, never inside nested values or strings, the same
//! answer whatever the chunking, and hostile bodies refused with bounded
//! state.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use super::{MAX_DEPTH, MAX_VALUE_LEN, MemberScan, Scan, ScanError, scan_all};

fn scan(body: &str) -> Result<Option<String>, ScanError> {
    scan_all(body.as_bytes(), "configId")
}

fn found(id: &str) -> Result<Option<String>, ScanError> {
    Ok(Some(id.to_owned()))
}

#[test]
fn the_top_level_member_is_found_wherever_it_stands() {
    assert_eq!(scan(r#"{"configId":"field"}"#), found("field"));
    // DataCollect's client sends `{events, configId}`: the member comes last.
    assert_eq!(
        scan(r#"{"events":[{"guid":"e1","data":{"configId":"evil"}}], "configId" : "field" }"#),
        found("field")
    );
    assert_eq!(
        scan(" \n{ \"a\" : 1 , \"b\": [true, null, -1.5e3], \"configId\":\"x\"}"),
        found("x")
    );
    // Escapes are decoded in keys and values, as a JSON parser does.
    assert_eq!(scan(r#"{"config\u0049d":"fi\u0065ld"}"#), found("field"));
    assert_eq!(scan(r#"{"configId":"\ud83d\ude00\n\/"}"#), found("\u{1F600}\n/"));
}

#[test]
fn members_of_nested_values_and_strings_are_not_the_member() {
    assert_eq!(scan(r#"{"data":{"configId":"evil"}}"#), Ok(None));
    assert_eq!(scan(r#"{"events":[{"configId":"evil"}]}"#), Ok(None));
    assert_eq!(scan(r#"{"note":"\"configId\":\"evil\"","x":1}"#), Ok(None));
    assert_eq!(scan(r#"{"configIdx":"evil","xconfigId":"evil"}"#), Ok(None));
    assert_eq!(scan(r#"[{"configId":"evil"}]"#), Ok(None));
    assert_eq!(scan(r#""configId""#), Ok(None));
}

#[test]
fn no_body_an_empty_value_or_no_member_names_no_app() {
    assert_eq!(scan(""), Ok(None));
    assert_eq!(scan("  \n"), Ok(None));
    assert_eq!(scan("{}"), Ok(None));
    assert_eq!(scan(r#"{"configId":""}"#), Ok(None));
}

#[test]
fn a_member_given_twice_is_refused_even_with_the_same_value() {
    assert_eq!(
        scan(r#"{"configId":"a","configId":"b"}"#),
        Err(ScanError::Duplicate)
    );
    assert_eq!(
        scan(r#"{"configId":"a","config\u0049d":"a"}"#),
        Err(ScanError::Duplicate)
    );
}

#[test]
fn a_member_that_is_not_a_string_or_is_too_long_is_refused() {
    assert_eq!(scan(r#"{"configId":5}"#), Err(ScanError::NotString));
    assert_eq!(scan(r#"{"configId":{"a":"b"}}"#), Err(ScanError::NotString));
    assert_eq!(scan(r#"{"configId":null}"#), Err(ScanError::NotString));
    let long = "a".repeat(MAX_VALUE_LEN + 1);
    assert_eq!(
        scan(&format!(r#"{{"configId":"{long}"}}"#)),
        Err(ScanError::TooLong)
    );
    let fits = "a".repeat(MAX_VALUE_LEN);
    assert_eq!(scan(&format!(r#"{{"configId":"{fits}"}}"#)), found(&fits));
}

#[test]
fn broken_json_is_refused() {
    for body in [
        "{",
        r#"{"configId":"a""#,
        r#"{"configId":"a",}"#,
        r#"{"a":[}]"#,
        r#"{"a":{]}"#,
        r#"{"a" 1}"#,
        "{\"configId\":\"a\u{1}\"}",
        r#"{"configId":"\x"}"#,
        r#"{"configId":"\ud800"}"#,
        r#"{"configId":"\udc00"}"#,
        r#"{"configId":"\u12G4"}"#,
        r#"{"a":1 "b":2}"#,
        r#"{1:2}"#,
    ] {
        assert!(scan(body).is_err(), "accepted {body:?}: {:?}", scan(body));
    }
    assert_eq!(
        scan_all(b"{\"configId\":\"\xff\"}", "configId"),
        Err(ScanError::Invalid)
    );
}

#[test]
fn nesting_past_the_limit_is_refused_without_recursion() {
    let deep = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
    assert_eq!(scan(&deep(MAX_DEPTH)), Ok(None));
    assert_eq!(scan(&deep(MAX_DEPTH + 1)), Err(ScanError::TooDeep));
    // A million open brackets cost the scan nothing but time.
    assert_eq!(scan(&deep(1_000_000)), Err(ScanError::TooDeep));
}

#[test]
fn the_scan_stops_at_the_end_of_the_top_level_object_whatever_the_chunking() {
    let body = r#"{"events":[{"guid":"e\"1","data":{"x":[1,2,{"y":"}"}]}}],"configId":"field"}TRAILING"#;
    let end = body.find("TRAILING").unwrap();
    for size in 1..=body.len() {
        let mut scan = MemberScan::new("configId");
        let mut used = 0;
        let mut answer = None;
        for chunk in body.as_bytes().chunks(size) {
            let (n, progress) = scan.feed(chunk);
            used += n;
            if let Scan::Done(found) = progress {
                answer = Some(found);
                break;
            }
        }
        assert_eq!(answer, Some(found("field")), "chunks of {size}");
        assert_eq!(used, end, "chunks of {size}: read past the object");
    }
}
