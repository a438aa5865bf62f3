//! The strict reader of JSON objects from the network: duplicate members
//! refused (parsers resolve them differently), and anything that is not an
//! object.

use std::fmt;

use serde::de::{self, Deserialize, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Parses a JSON object, refusing duplicate members (which parsers resolve
/// differently) and anything that is not an object. The error says what is
/// wrong, never quoting the text.
pub fn parse_object(text: &str) -> Result<Map<String, Value>, &'static str> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        _ => return Err("is not a JSON object"),
    }
    serde_json::from_str::<StrictObject>(text)
        .map(|o| o.0)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "has a duplicate member",
            _ => "is not valid JSON",
        })
}

/// A JSON object whose top-level members are unique.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    let value = access.next_value::<Value>()?;
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}
