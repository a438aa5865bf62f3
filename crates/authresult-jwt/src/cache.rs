//! The bounded cache of validated tokens: a repeated token costs a hash and a
//! lookup instead of a signature check.
//!
//! Entries are keyed by the whole token text (hashed with a per-process
//! random seed, then compared in full), so no other token can ever hit an
//! entry. Only b64token text is admitted (what the layer accepts in a
//! header), so the layer may look a header's raw bytes up before checking
//! them: a hit proves they would pass. Each entry expires no later than its token, and every hit checks
//! the token's times again with the rules of a fresh validation (`exp`,
//! `nbf`, `iat` and the maximum age, with leeway), so a cached token is
//! refused exactly when a fresh validation would refuse it. The cache is sharded;
//! each shard holds a bounded number of entries and bytes and evicts the
//! oldest entries first.
//!
//! With a [`RevocationList`], each entry remembers the list's generation it
//! was last checked at; a hit costs one atomic load while no logout
//! arrived, and is checked against the list again once one did.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use foldhash::fast::RandomState;

use authresult_core::Timestamp;

use super::claims::ValidatedToken;
use super::error::ValidationError;
use super::revocation::RevocationList;
use super::token68::token_text;
use super::typed_claims::TimeRules;

const SHARDS: usize = 16;
/// The bytes of a token's end that its hash covers (with its length).
const HASHED_TAIL: usize = 32;
/// Bytes counted for an entry on top of twice the token length (the token
/// text and, roughly, its decoded claims).
const ENTRY_OVERHEAD: usize = 256;

#[derive(Debug)]
pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    /// Picks the shard; independent of the maps' own hasher so that a shard's
    /// keys still spread over all of its buckets.
    shard_hasher: RandomState,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct Shard {
    map: HashMap<Arc<[u8]>, Entry, TailHash>,
    /// Insertion order, oldest first; may hold keys already removed.
    order: VecDeque<Arc<[u8]>>,
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    token: ValidatedToken,
    /// The time rules of the token's issuer, applied again on every hit.
    rules: TimeRules,
    /// Milliseconds since the epoch.
    expires_at: u64,
    /// The revocation list's generation this entry was last checked at
    /// (moved forward under the shard's read lock).
    checked_at: AtomicU64,
}

/// Hashes a token by its length and its last [`HASHED_TAIL`] bytes, not
/// all of its hundreds: the end of a validated token is its signature (or
/// the provider's random opaque text), which an attacker cannot choose for
/// an entry without the issuer's key. Keys are still compared in full, so
/// a shared tail costs a comparison, never a wrong hit.
#[derive(Debug, Clone)]
struct TailHash(RandomState);

/// The hasher of [`TailHash`].
struct TailHasher(<RandomState as BuildHasher>::Hasher);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }

    fn write_usize(&mut self, n: usize) {
        self.0.write_usize(n);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

fn weight(token: &[u8]) -> usize {
    token.len().saturating_mul(2).saturating_add(ENTRY_OVERHEAD)
}

impl TokenCache {
    /// A cache of at most `max_entries` tokens and about `max_bytes` bytes.
    /// Zero for either disables it.
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        let hasher = RandomState::default();
        let shards = (0..SHARDS)
            .map(|_| {
                RwLock::new(Shard {
                    map: HashMap::with_hasher(TailHash(hasher.clone())),
                    order: VecDeque::new(),
                    bytes: 0,
                })
            })
            .collect();
        TokenCache {
            shards,
            shard_hasher: RandomState::default(),
            max_entries: max_entries.div_ceil(SHARDS),
            max_bytes: max_bytes / SHARDS,
        }
    }

    /// The shard of `token`: a hit only reads it, so requests with the same
    /// token on several threads do not wait for each other.
    fn shard_index(&self, token: &[u8]) -> usize {
        // The tail of a token is its signature: hashing it is enough to spread
        // tokens, and cheaper than hashing the whole token twice.
        let tail = &token[token.len().saturating_sub(16)..];
        (self.shard_hasher.hash_one(tail) as usize) % SHARDS
    }

    // A poisoned shard only means another thread panicked mid-update of
    // plain data; the map itself is still consistent.
    fn read(&self, token: &[u8]) -> RwLockReadGuard<'_, Shard> {
        match self.shards[self.shard_index(token)].read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self, token: &[u8]) -> RwLockWriteGuard<'_, Shard> {
        match self.shards[self.shard_index(token)].write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// For this exact token, when cached and its entry not expired at `now`:
    /// the validated token, or the error of a time rule it now breaks or of
    /// a logout in `revocations` (the entry is then dropped).
    pub(crate) fn get(
        &self,
        token: &[u8],
        now: Timestamp,
        revocations: Option<&RevocationList>,
    ) -> Option<Result<ValidatedToken, ValidationError>> {
        if self.max_entries == 0 {
            return None;
        }
        let shard = self.read(token);
        let entry = shard.map.get(token)?;
        let answer = if entry.expires_at <= now.as_millis() {
            None
        } else {
            let mut verdict = entry.token.times().check(now, entry.rules);
            if let (Ok(()), Some(list)) = (&verdict, revocations) {
                let generation = list.index().generation();
                if entry.checked_at.load(Ordering::Acquire) != generation {
                    verdict = list.index().check(&entry.token, now);
                    if verdict.is_ok() {
                        entry.checked_at.store(generation, Ordering::Release);
                    }
                }
            }
            match verdict {
                Ok(()) => return Some(Ok(entry.token.clone())),
                Err(error) => Some(Err(error)),
            }
        };
        drop(shard);
        // Dropped once seen expired. Should another request have cached the
        // token again meanwhile, that entry goes too: it is merely validated
        // once more.
        self.write(token).remove(token);
        answer
    }

    /// Caches `validated` for `token` until `expires_at` (ms since the epoch);
    /// every hit checks its times against `rules`, and against the
    /// revocation list once its generation moved past `checked_at`. A token
    /// that is not b64token text is not cached.
    pub(crate) fn insert(
        &self,
        token: &str,
        validated: ValidatedToken,
        rules: TimeRules,
        (expires_at, now_ms): (u64, u64),
        checked_at: u64,
    ) {
        if token_text(token.as_bytes()).is_none() {
            return;
        }
        let token = token.as_bytes();
        let weight = weight(token);
        if self.max_entries == 0 || expires_at <= now_ms || weight > self.max_bytes {
            return;
        }
        let mut shard = self.write(token);
        if shard.map.contains_key(token) {
            return;
        }
        while shard.map.len() >= self.max_entries || shard.bytes + weight > self.max_bytes {
            if !shard.evict_oldest() {
                break;
            }
        }
        let key: Arc<[u8]> = Arc::from(token);
        shard.order.push_back(key.clone());
        shard.map.insert(
            key,
            Entry {
                token: validated,
                rules,
                expires_at,
                checked_at: AtomicU64::new(checked_at),
            },
        );
        shard.bytes += weight;
        if shard.order.len() > 2 * self.max_entries.max(8) {
            shard.compact();
        }
    }

    /// The number of cached tokens (including expired ones not yet dropped).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.read() {
                Ok(g) => g.map.len(),
                Err(p) => p.into_inner().map.len(),
            })
            .sum()
    }

    /// An estimate of the bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.read() {
                Ok(g) => g.bytes,
                Err(p) => p.into_inner().bytes,
            })
            .sum()
    }
}

impl Shard {
    fn remove(&mut self, token: &[u8]) {
        if self.map.remove(token).is_some() {
            self.bytes = self.bytes.saturating_sub(weight(token));
        }
    }

    /// Drops the oldest live entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some(key) = self.order.pop_front() {
            // Only the entry inserted with this very key counts; a removed and
            // re-inserted token has a newer key further back.
            let live = self
                .map
                .get_key_value(&*key)
                .is_some_and(|(k, _)| Arc::ptr_eq(k, &key));
            if live {
                self.remove(&key);
                return true;
            }
        }
        false
    }

    /// Drops keys of removed entries from the insertion order.
    fn compact(&mut self) {
        let map = &self.map;
        self.order.retain(|key| {
            map.get_key_value(&**key)
                .is_some_and(|(k, _)| Arc::ptr_eq(k, key))
        });
    }
}
