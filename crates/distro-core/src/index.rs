//! The kernel's knowledge of every key: owner, revision, lease, live or deleted, with
//! per-owner digests and renewal times. Pure data: every method takes `now`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::digest::{Digest, DigestHasher};
use crate::message::{Lease, SyncItem};
use crate::moment::Moment;
use crate::revision;

/// Owner of keys this node released (responsibility moved away) and nobody claimed yet.
pub const UNOWNED: &str = "";

/// What the node holds for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Owning node (`UNOWNED` after a release).
    pub owner: Arc<str>,
    /// Revision held.
    pub revision: u64,
    /// How the replica's life is tied to its owner.
    pub lease: Lease,
    /// False for a tombstone.
    pub live: bool,
    /// When it was last written (tombstones: deleted at).
    pub written: Moment,
    /// Set when the owner said it no longer holds this key.
    pub orphan_since: Option<Moment>,
    /// The highest revision this node has held for the key, this one included. A copy of
    /// the same client write from another owner can replace a higher count (see
    /// [`supersedes`]); a change made here later must still go above every revision it
    /// held, or two different states would share one revision and a node holding the
    /// other would never take this one (simulation seed 3454784904863815740).
    pub high_water: u64,
}

/// Whether an incoming item should be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Newer than what is held: apply.
    Apply,
    /// Not newer (stale or duplicate): ignore.
    Stale,
    /// This node owns the key: a remote copy never overwrites it.
    OwnedHere,
}

/// Why a replica is due for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Removal {
    /// Not renewed by its owner's verify within the expiry.
    Expired,
    /// Its owner has been DOWN longer than the grace and it dies with its owner.
    OwnerDown,
    /// Its owner said it no longer holds it, longer ago than the orphan grace.
    Orphaned,
}

/// Every key the node knows, with digests per owner.
#[derive(Debug)]
pub struct Index {
    me: Arc<str>,
    hasher: DigestHasher,
    entries: HashMap<String, Entry>,
    digests: HashMap<Arc<str>, Digest>,
    renewed: HashMap<Arc<str>, Vec<Instant>>,
}

impl Index {
    /// An empty index for node `me`.
    pub fn new(me: &str, hasher: DigestHasher) -> Self {
        Self {
            me: Arc::from(me),
            hasher,
            entries: HashMap::new(),
            digests: HashMap::new(),
            renewed: HashMap::new(),
        }
    }

    /// This node's address.
    pub fn me(&self) -> &Arc<str> {
        &self.me
    }

    /// The hasher (bucket count and key).
    pub fn hasher(&self) -> &DigestHasher {
        &self.hasher
    }

    /// The entry of a key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Every key with its entry.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// Renewal times per bucket of every owner seen (for state dumps in tests).
    pub fn renewals(&self) -> impl Iterator<Item = (&Arc<str>, &Vec<Instant>)> {
        self.renewed.iter()
    }

    /// The digest of the live keys of `owner` held here.
    pub fn digest(&self, owner: &str) -> Digest {
        self.digests
            .get(owner)
            .cloned()
            .unwrap_or_else(|| Digest::new(self.hasher.bucket_count()))
    }

    /// Live keys held here that other nodes own.
    pub fn replica_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.live && e.owner != self.me)
            .count()
    }

    /// Whether an incoming item from a peer should be applied.
    ///
    /// A key owned here is never overwritten by a remote copy (Nacos #15857), with one
    /// exception: a transferable key whose remote copy carries a newer client write. Only a
    /// node that believed it owned the key took that write (nodes disagreed on who is up);
    /// the write was acknowledged to the client, so it is taken, and the plugin claims the
    /// key again if this node is still responsible for it.
    pub fn decide(&self, item: &SyncItem) -> Decision {
        match self.entries.get(&item.key) {
            None => Decision::Apply,
            Some(entry) if entry.live && entry.owner == self.me && *item.owner != *self.me => {
                let newer_write = revision::stamp(item.revision) > revision::stamp(entry.revision);
                if item.lease == Lease::Transferable && newer_write {
                    Decision::Apply
                } else {
                    Decision::OwnedHere
                }
            }
            Some(entry) if supersedes(Claim::of(item), entry) => Decision::Apply,
            Some(_) => Decision::Stale,
        }
    }

    /// Records a live key.
    pub fn upsert(&mut self, key: &str, owner: &str, revision: u64, lease: Lease, now: Instant) {
        let high_water = self.high_water(key, revision);
        self.unlink(key);
        let owner = self.owner_arc(owner, now);
        let hasher = self.hasher;
        self.digest_mut(&owner).add(&hasher, key, revision);
        let bucket = self.hasher.bucket(key) as usize;
        if let Some(times) = self.renewed.get_mut(&owner) {
            times[bucket] = now;
        }
        let entry = Entry {
            owner,
            revision,
            lease,
            live: true,
            written: now.into(),
            orphan_since: None,
            high_water,
        };
        self.entries.insert(key.to_owned(), entry);
    }

    /// Records a deletion at `revision`, kept as a tombstone.
    pub fn tombstone(&mut self, key: &str, owner: &str, revision: u64, lease: Lease, now: Instant) {
        let high_water = self.high_water(key, revision);
        self.unlink(key);
        let owner = self.owner_arc(owner, now);
        let entry = Entry {
            owner,
            revision,
            lease,
            live: false,
            written: now.into(),
            orphan_since: None,
            high_water,
        };
        self.entries.insert(key.to_owned(), entry);
    }

    /// Marks a key this node owned as released: nobody owns it until a sync claims it.
    /// Returns whether it was owned here.
    pub fn release(&mut self, key: &str, now: Instant) -> bool {
        let Some(entry) = self.entries.get(key) else {
            return false;
        };
        if entry.owner != self.me || !entry.live {
            return false;
        }
        let (revision, lease) = (entry.revision, entry.lease);
        self.upsert(key, UNOWNED, revision, lease, now);
        true
    }

    /// Drops a live replica without a tombstone (expiry): if its owner still holds it, the
    /// owner's next verify restores it.
    pub fn forget_live(&mut self, key: &str) {
        self.unlink(key);
    }

    /// Drops a tombstone for good.
    pub fn forget(&mut self, key: &str) {
        if self.entries.get(key).is_some_and(|e| !e.live) {
            self.entries.remove(key);
        }
    }

    /// Every replica of `owner` was confirmed by its verify.
    pub fn renew_owner(&mut self, owner: &str, now: Instant) {
        // Only owners whose keys were seen have renewal times: a verify from an owner with
        // nothing here must not create any (found by fuzzing: every unknown owner string
        // left a bucket vector behind, an unbounded leak).
        if let Some(times) = self.renewed.get_mut(owner) {
            times.iter_mut().for_each(|t| *t = now);
        }
    }

    /// The replicas of `owner` in `buckets` were confirmed by its verify.
    pub fn renew_buckets(
        &mut self,
        owner: &str,
        buckets: impl IntoIterator<Item = u32>,
        now: Instant,
    ) {
        // As in `renew_owner`: never create renewal times for an unknown owner.
        if let Some(times) = self.renewed.get_mut(owner) {
            for bucket in buckets {
                if let Some(time) = times.get_mut(bucket as usize) {
                    *time = now;
                }
            }
        }
    }

    /// The live `(key, revision)` pairs of `owner` in `buckets`.
    pub fn entries_in(&self, owner: &str, buckets: &[u32]) -> Vec<(String, u64)> {
        let wanted: std::collections::HashSet<u32> = buckets.iter().copied().collect();
        self.entries
            .iter()
            .filter(|(k, e)| {
                e.live && *e.owner == *owner && wanted.contains(&self.hasher.bucket(k))
            })
            .map(|(k, e)| (k.clone(), e.revision))
            .collect()
    }

    /// Compares the owner's entries of some buckets with ours, and marks ours that the owner
    /// no longer lists as orphans.
    pub fn reconcile(
        &mut self,
        owner: &str,
        buckets: &[u32],
        theirs: &[(String, u64)],
        now: Instant,
    ) -> Reconciled {
        let listed: HashMap<&str, u64> = theirs.iter().map(|(k, r)| (k.as_str(), *r)).collect();
        let want = theirs
            .iter()
            .filter(|(key, revision)| {
                self.entries.get(key).is_none_or(|e| {
                    let claim = Claim {
                        revision: *revision,
                        owner,
                        live: true,
                    };
                    supersedes(claim, e)
                })
            })
            .map(|(key, _)| key.clone())
            .collect();
        let hand_back = theirs
            .iter()
            .filter(|(key, revision)| {
                self.entries.get(key).is_some_and(|e| {
                    e.live
                        && *e.owner != *owner
                        && revision::stamp(e.revision) > revision::stamp(*revision)
                })
            })
            .map(|(key, _)| key.clone())
            .collect();
        for (key, _) in self.entries_in(owner, buckets) {
            if !listed.contains_key(key.as_str())
                && let Some(entry) = self.entries.get_mut(&key)
            {
                if entry.orphan_since.is_none() {
                    tracing::debug!(%key, %owner, "replica disowned by its owner");
                }
                entry.orphan_since.get_or_insert(now.into());
            }
        }
        self.renew_buckets(owner, buckets.iter().copied(), now);
        Reconciled { want, hand_back }
    }

    /// Replicas due for removal and why, given which owners are DOWN since when.
    pub fn due_removals(
        &self,
        now: Instant,
        down_since: &HashMap<String, Instant>,
        limits: &RemovalLimits,
    ) -> Vec<(String, Removal)> {
        let mut due = Vec::new();
        for (key, entry) in &self.entries {
            if !entry.live || entry.owner == self.me {
                continue;
            }
            if entry
                .orphan_since
                .is_some_and(|t| now.saturating_duration_since(t.instant()) > limits.orphan_grace)
            {
                due.push((key.clone(), Removal::Orphaned));
                continue;
            }
            let down = down_since.get(&*entry.owner);
            let owner_gone =
                down.is_some_and(|t| now.saturating_duration_since(*t) > limits.owner_down_grace);
            if entry.lease == Lease::OwnerBound && owner_gone {
                due.push((key.clone(), Removal::OwnerDown));
                continue;
            }
            if now.saturating_duration_since(self.renewed_at(key, entry)) > limits.replica_expiry {
                due.push((key.clone(), Removal::Expired));
            }
        }
        due
    }

    /// Tombstones older than `keep`.
    pub fn old_tombstones(&self, now: Instant, keep: Duration) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.live && now.saturating_duration_since(e.written.instant()) > keep)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn high_water(&self, key: &str, revision: u64) -> u64 {
        self.entries
            .get(key)
            .map_or(revision, |e| e.high_water.max(revision))
    }

    fn renewed_at(&self, key: &str, entry: &Entry) -> Instant {
        let bucket = self.hasher.bucket(key) as usize;
        let renewed = self
            .renewed
            .get(&entry.owner)
            .and_then(|t| t.get(bucket))
            .copied();
        let written = entry.written.instant();
        renewed.map_or(written, |t| t.max(written))
    }

    fn unlink(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key)
            && old.live
            && let Some(digest) = self.digests.get_mut(&old.owner)
        {
            digest.remove(&self.hasher, key, old.revision);
        }
    }

    fn owner_arc(&mut self, owner: &str, now: Instant) -> Arc<str> {
        if let Some((existing, _)) = self.renewed.get_key_value(owner) {
            return Arc::clone(existing);
        }
        let owner: Arc<str> = Arc::from(owner);
        let buckets = self.hasher.bucket_count() as usize;
        self.renewed.insert(Arc::clone(&owner), vec![now; buckets]);
        owner
    }

    fn digest_mut(&mut self, owner: &Arc<str>) -> &mut Digest {
        let buckets = self.hasher.bucket_count();
        self.digests
            .entry(Arc::clone(owner))
            .or_insert_with(|| Digest::new(buckets))
    }
}

/// What comparing an owner's entries with ours found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Keys to ask the owner for (absent here or older).
    pub want: Vec<String>,
    /// Keys the owner claims at an older client write than a copy held here from another
    /// owner (or released here): the owner must get ours. Such a write was taken by a node
    /// that believed it owned the key while the claimant did too (one-way loss, partitions).
    pub hand_back: Vec<String>,
}

/// A state of a key a peer offers: its revision, its owner, live or deleted.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Revision.
    pub revision: u64,
    /// Owner.
    pub owner: &'a str,
    /// False for a deletion.
    pub live: bool,
}

impl<'a> Claim<'a> {
    /// The state a sync item carries.
    pub fn of(item: &'a SyncItem) -> Self {
        Self {
            revision: item.revision,
            owner: &item.owner,
            live: item.payload.is_some(),
        }
    }
}

/// Whether `claim` is newer than what `held` records.
///
/// The client write comes first: a state with a newer [`revision::stamp`] wins, an older
/// one loses, whoever owns either. Among states of the same write, counts of owner changes
/// made by different owners are not comparable (each side of a partition counts its own),
/// so two rules come first:
/// - a live copy its owner has let go of (released here, or disowned by its owner's verify)
///   yields to any other owner's claim: the side that kept or regained the key may have
///   counted fewer changes than a copy the other side adopted meanwhile;
/// - a deletion yields to another owner's live claim: it was an expiry or idle removal
///   (client deletions are writes, with a newer stamp) by a node that owned the key while
///   nodes disagreed on who did, and the claimant, which owns it now, has it alive
///   (simulation seed 3454784904863815740: a tombstone from the far side of a healed
///   partition blocked the live client on one node until the tombstone was forgotten).
///
/// Otherwise revisions decide. Equal revisions from different owners happen when two nodes
/// briefly both take over the same transferable key; a fixed order (a claimed key beats a
/// released one, then the greater owner address) makes every node settle on the same state.
pub fn supersedes(claim: Claim<'_>, held: &Entry) -> bool {
    let Claim {
        revision,
        owner,
        live,
    } = claim;
    let (theirs, ours) = (revision::stamp(revision), revision::stamp(held.revision));
    if theirs != ours {
        return theirs > ours;
    }
    let other_owner = *owner != *UNOWNED && *held.owner != *owner;
    let let_go = *held.owner == *UNOWNED || held.orphan_since.is_some();
    if other_owner && held.live && let_go {
        return true;
    }
    if other_owner && live && !held.live {
        return true;
    }
    if revision != held.revision {
        return revision > held.revision;
    }
    *held.owner != *owner && (*held.owner == *UNOWNED || owner > &*held.owner)
}

/// The graces and expiry that decide removals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalLimits {
    /// See [`crate::DistroConfig::replica_expiry`].
    pub replica_expiry: Duration,
    /// See [`crate::DistroConfig::owner_down_grace`].
    pub owner_down_grace: Duration,
    /// See [`crate::DistroConfig::orphan_grace`].
    pub orphan_grace: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, owner: &str, revision: u64) -> SyncItem {
        SyncItem {
            key: key.into(),
            owner: owner.into(),
            revision,
            lease: Lease::OwnerBound,
            payload: None,
        }
    }

    #[test]
    fn newer_revisions_apply_and_own_keys_are_never_overwritten() {
        let now = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 16));
        assert_eq!(index.decide(&item("a", "p", 1)), Decision::Apply);
        index.upsert("a", "p", 5, Lease::OwnerBound, now);
        assert_eq!(index.decide(&item("a", "p", 5)), Decision::Stale);
        assert_eq!(index.decide(&item("a", "p", 4)), Decision::Stale);
        assert_eq!(index.decide(&item("a", "p", 6)), Decision::Apply);
        index.upsert("mine", "me", 1, Lease::OwnerBound, now);
        assert_eq!(index.decide(&item("mine", "p", 99)), Decision::OwnedHere);
        index.tombstone("a", "p", 7, Lease::OwnerBound, now);
        assert_eq!(
            index.decide(&item("a", "p", 7)),
            Decision::Stale,
            "tombstones block replays"
        );
        assert_eq!(index.digest("p").count(), 0);
    }

    #[test]
    fn a_copy_let_go_by_its_owner_yields_to_another_owners_claim() {
        let now = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 1));
        // Released here at a higher revision than the claim of the new owner.
        index.upsert("moved", "me", 7, Lease::Transferable, now);
        index.release("moved", now);
        assert_eq!(index.decide(&item("moved", "n", 3)), Decision::Apply);
        // Adopted by `p` at the revision the real owner `a` also reached; `p` let go.
        index.upsert("twin", "p", 4, Lease::Transferable, now);
        assert_eq!(index.decide(&item("twin", "a", 4)), Decision::Stale);
        index.reconcile("p", &[0], &[], now);
        assert!(index.get("twin").unwrap().orphan_since.is_some());
        assert_eq!(index.decide(&item("twin", "a", 4)), Decision::Apply);
        assert_eq!(
            index.reconcile("a", &[0], &[("twin".into(), 3)], now).want,
            vec!["twin".to_owned()]
        );
        // Its own owner's older states still do not go back in time, nor do deletions revive.
        assert_eq!(index.decide(&item("twin", "p", 3)), Decision::Stale);
        index.tombstone("dead", "p", 5, Lease::Transferable, now);
        assert_eq!(index.decide(&item("dead", "a", 4)), Decision::Stale);
    }

    /// Regression (simulation seed 3454784904863815740): a deletion by one owner yields to
    /// another owner's live claim of the same client write, never to its own lineage's older
    /// states nor to an older write.
    #[test]
    fn a_deletion_yields_to_another_owners_live_claim_of_the_same_write() {
        use crate::revision::{changed, written_at};
        let now = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 1));
        let write = written_at(0, 1_000);
        let expired = changed(changed(changed(write)));
        index.tombstone("x", "far", expired, Lease::Transferable, now);
        let mut live = item("x", "near", changed(write));
        live.payload = Some(bytes::Bytes::from_static(b"record"));
        assert_eq!(index.decide(&live), Decision::Apply);
        index.upsert("x", "near", changed(write), Lease::Transferable, now);
        assert_eq!(
            index.get("x").unwrap().high_water,
            expired,
            "a change made here later goes above every revision held"
        );
        index.tombstone("x", "far", expired, Lease::Transferable, now);
        assert!(
            index
                .reconcile("near", &[0], &[("x".into(), changed(write))], now)
                .want
                .contains(&"x".to_owned())
        );
        live.owner = "far".into();
        assert_eq!(index.decide(&live), Decision::Stale, "its own older state");
        live.owner = "near".into();
        index.tombstone(
            "x",
            "far",
            written_at(write, 2_000),
            Lease::Transferable,
            now,
        );
        assert_eq!(index.decide(&live), Decision::Stale, "an older write");
    }

    /// Regression (simulation seed 14334736817867870816): after a split brain the newest
    /// client write wins, whoever owns it and however often the other side counted changes.
    #[test]
    fn the_newest_client_write_wins_across_owners() {
        use crate::revision::{changed, written_at};
        let now = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 1));
        let old = written_at(0, 1_000);
        let new = written_at(old, 2_000);
        let mut recounted = old;
        for _ in 0..5 {
            recounted = changed(recounted);
        }
        // A replica holding the newer write refuses the older one, even re-counted.
        index.upsert("k", "a", new, Lease::Transferable, now);
        assert_eq!(index.decide(&item("k", "b", recounted)), Decision::Stale);
        // Released here: a claim of an older write still loses, and the owner gets ours.
        index.upsert("r", "me", new, Lease::Transferable, now);
        index.release("r", now);
        let mut claim = item("r", "b", recounted);
        claim.lease = Lease::Transferable;
        assert_eq!(index.decide(&claim), Decision::Stale);
        let reconciled = index.reconcile("b", &[0], &[("r".into(), recounted)], now);
        assert_eq!(reconciled.hand_back, vec!["r".to_owned()]);
        assert!(reconciled.want.is_empty());
        // Owned here: a newer write of a transferable key is taken, of a bound one never.
        index.upsert("mine", "me", recounted, Lease::Transferable, now);
        let mut newer = item("mine", "b", new);
        newer.lease = Lease::Transferable;
        assert_eq!(index.decide(&newer), Decision::Apply);
        newer.revision = changed(recounted);
        assert_eq!(index.decide(&newer), Decision::OwnedHere, "same write");
        index.upsert("conn", "me", old, Lease::OwnerBound, now);
        assert_eq!(index.decide(&item("conn", "b", new)), Decision::OwnedHere);
    }

    #[test]
    fn a_verify_from_an_owner_with_no_keys_here_keeps_nothing() {
        let now = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 4));
        index.renew_owner("stranger", now);
        index.renew_buckets("stranger", [0, 1], now);
        assert_eq!(
            index.reconcile("stranger", &[2], &[], now),
            Reconciled::default()
        );
        assert_eq!(index.renewals().count(), 0);
    }

    #[test]
    fn reconcile_wants_missing_and_older_and_orphans_extras() {
        let now = Instant::now();
        let hasher = DigestHasher::new(1, 1);
        let mut index = Index::new("me", hasher);
        index.upsert("same", "o", 1, Lease::OwnerBound, now);
        index.upsert("old", "o", 1, Lease::OwnerBound, now);
        index.upsert("extra", "o", 1, Lease::OwnerBound, now);
        let theirs = vec![("same".into(), 1), ("old".into(), 2), ("new".into(), 1)];
        let mut want = index.reconcile("o", &[0], &theirs, now).want;
        want.sort();
        assert_eq!(want, vec!["new".to_owned(), "old".to_owned()]);
        assert!(index.get("extra").unwrap().orphan_since.is_some());
        assert!(index.get("same").unwrap().orphan_since.is_none());
    }

    #[test]
    fn removals_follow_expiry_down_grace_and_orphans() {
        let start = Instant::now();
        let mut index = Index::new("me", DigestHasher::new(1, 4));
        index.upsert("bound", "down", 1, Lease::OwnerBound, start);
        index.upsert("moves", "down", 1, Lease::Transferable, start);
        index.upsert("quiet", "up", 1, Lease::OwnerBound, start);
        let limits = RemovalLimits {
            replica_expiry: Duration::from_secs(180),
            owner_down_grace: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(10),
        };
        let down = HashMap::from([("down".to_owned(), start)]);
        assert!(
            index
                .due_removals(start + Duration::from_secs(30), &down, &limits)
                .is_empty()
        );
        let due = index.due_removals(start + Duration::from_secs(31), &down, &limits);
        assert_eq!(due, vec![("bound".to_owned(), Removal::OwnerDown)]);
        index.renew_owner("up", start + Duration::from_secs(100));
        let mut due = index.due_removals(start + Duration::from_secs(181), &down, &limits);
        due.sort();
        assert_eq!(
            due,
            vec![
                ("bound".to_owned(), Removal::OwnerDown),
                ("moves".to_owned(), Removal::Expired)
            ]
        );
    }
}
