//! The workspace's one strict reader of JSON objects from the network or a
//! token: the text must be one JSON object whose top-level members are
//! unique (parsers resolve a duplicate differently, so a token or document
//! that has one could mean two things). What is kept of each member is the
//! caller's choice ([`StrictMembers`]): all of them
//! ([`parse_strict_object`]), or only what the caller interprets
//! (`authresult-jwt`'s token claims). It lives in the core, below every
//! crate that reads JSON from outside: discovery documents, key sets and
//! token payloads (`authresult-http`, `authresult-jwt`) and DataCollect's
//! stored tokens (`datacollect/stored.rs`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

/// What a strict read keeps of an object's members.
pub trait StrictMembers: Default {
    /// Reads (or skips) the value of the member `name`, which is not a
    /// duplicate, from `access`.
    fn member<'de, A: MapAccess<'de>>(&mut self, name: &str, access: &mut A) -> Result<(), A::Error>;
}

impl StrictMembers for Map<String, Value> {
    fn member<'de, A: MapAccess<'de>>(&mut self, name: &str, access: &mut A) -> Result<(), A::Error> {
        let value = access.next_value::<Value>()?;
        self.insert(name.to_owned(), value);
        Ok(())
    }
}

/// Reads `text` as one JSON object without duplicate top-level members;
/// the error says what is wrong with it.
pub fn read_strict_object<M: StrictMembers>(text: &str) -> Result<M, &'static str> {
    // serde would also read a map from other shapes; only `{` starts an object.
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        _ => return Err("is not a JSON object"),
    }
    serde_json::from_str::<Strict<M>>(text)
        .map(|strict| strict.0)
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "has a duplicate member",
            _ => "is not valid JSON",
        })
}

/// [`read_strict_object`] keeping every member.
pub fn parse_strict_object(text: &str) -> Result<Map<String, Value>, &'static str> {
    read_strict_object(text)
}

/// The members of an object read strictly.
struct Strict<M>(M);

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Above this many members, duplicates are found with a hash set.
const LINEAR_SCAN_MAX: usize = 32;

impl<'de, M: StrictMembers> Deserialize<'de> for Strict<M> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<M>(PhantomData<M>);

        impl<'de, M: StrictMembers> Visitor<'de> for ObjectVisitor<M> {
            type Value = Strict<M>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Strict<M>, A::Error> {
                let mut members = M::default();
                // The first LINEAR_SCAN_MAX names, on the stack; past them
                // all names go to a hash set.
                let mut seen: [Cow<'de, str>; LINEAR_SCAN_MAX] = std::array::from_fn(|_| Cow::Borrowed(""));
                let mut seen_len = 0;
                let mut seen_many: HashSet<Cow<'de, str>> = HashSet::new();
                while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
                    let duplicate = if seen_len < LINEAR_SCAN_MAX {
                        seen[..seen_len].contains(&key)
                    } else {
                        if seen_many.is_empty() {
                            seen_many.extend(seen.iter().cloned());
                        }
                        !seen_many.insert(key.clone())
                    };
                    if duplicate {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    members.member(&key, &mut access)?;
                    if seen_len < LINEAR_SCAN_MAX {
                        seen[seen_len] = key;
                        seen_len += 1;
                    }
                }
                Ok(Strict(members))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}
