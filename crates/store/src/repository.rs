//! One repository trait per aggregate. [`SqliteStore`](crate::SqliteStore),
//! [`PgStore`](crate::PgStore) and [`Store`](crate::Store) implement them
//! all; `use store::prelude::*` brings them into scope.
//!
//! The methods return `Send` futures, so the switch can call them from
//! spawned tasks. Look-ups return `Ok(None)` when there is nothing to find;
//! operations that need something to exist fail with
//! [`StoreError::NotFound`](crate::StoreError::NotFound).

use std::future::Future;

use sip::digest::Algorithm;

use crate::directory::{DirectoryEntries, DirectoryListing};
use crate::error::Result;
use crate::model::{
    ActiveCall, BatchOutcome, Binding, BindingWrite, CallBatch, Cdr, CdrFilter, HeldNumber, Member,
    MemberId, NewCdr, NewMember, NewToken, NumberKind, Page, TokenInfo, UnixMillis,
};

/// Members: individuals and companies.
pub trait Members {
    /// Registers a member. A taken e-mail (ignoring case) is a `Conflict`.
    fn add_member(&self, new: &NewMember) -> impl Future<Output = Result<Member>> + Send;

    fn member(&self, id: MemberId) -> impl Future<Output = Result<Option<Member>>> + Send;

    /// Members in id order.
    fn members(&self, page: Page) -> impl Future<Output = Result<Vec<Member>>> + Send;

    /// The members of `company` (the company itself not among them), in id
    /// order.
    fn company_members(
        &self,
        company: MemberId,
        page: Page,
    ) -> impl Future<Output = Result<Vec<Member>>> + Send;

    /// The member with this e-mail, ignoring case.
    fn member_by_email(&self, email: &str) -> impl Future<Output = Result<Option<Member>>> + Send;
}

/// Numbers held by members, by store key ([`numbering::Number::key`]:
/// `0262006200082`, `62006200#082`, `+442079460000`). A number has one
/// holder.
pub trait Numbers {
    /// Assigns `number` to `member`. `number` must be the store key of a
    /// `kind` number, else it is `Invalid`: written forms are the numbering
    /// crate's to read before they reach the store. Granting a number
    /// again to its holder, as the same kind, returns the existing
    /// assignment; a number held by anyone else (or as another kind) is a
    /// `Conflict` naming the holder, and an unknown member is `NotFound`.
    fn grant(
        &self,
        number: &str,
        kind: NumberKind,
        member: MemberId,
    ) -> impl Future<Output = Result<HeldNumber>> + Send;

    fn holder(&self, number: &str) -> impl Future<Output = Result<Option<HeldNumber>>> + Send;

    /// A member's numbers, in number order.
    fn numbers_of(&self, member: MemberId) -> impl Future<Output = Result<Vec<HeldNumber>>> + Send;

    /// Frees `number`, deleting its SIP credentials and its provisioning
    /// link with it (so its next holder cannot be logged into with the old
    /// password). Bindings are
    /// the registrar's to remove. `NotFound` if nobody holds it.
    fn release(&self, number: &str) -> impl Future<Output = Result<HeldNumber>> + Send;
}

/// Digest credentials per SIP username (a held number) and realm.
pub trait SipCredentials {
    /// Replaces, atomically, every HA1 of `username` in `realm` with
    /// `ha1s` (one per algorithm, lowercase or upper-case hex). Compute them
    /// with `sip::digest::ha1`; the password itself never reaches the store.
    /// `NotFound` if nobody holds `username` as a number.
    fn set_password_ha1s(
        &self,
        username: &str,
        realm: &str,
        ha1s: &[(Algorithm, &str)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The HA1 (lowercase hex) to check a digest response against.
    fn ha1(
        &self,
        username: &str,
        realm: &str,
        algorithm: Algorithm,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// A counter that changes whenever any SIP credential or any number's
    /// holder changes, by any process on the database: what a cache of
    /// HA1s and holders compares to know it is still right.
    fn directory_version(&self) -> impl Future<Output = Result<i64>> + Send;
}

/// The registrar's location service (RFC 3261 section 10), shared by every
/// node on the same database.
pub trait Location {
    /// Creates or replaces the binding of `binding.contact` to
    /// `binding.aor`, unless the stored one has the same Call-ID and an
    /// equal or higher CSeq (then `OutOfOrder`, nothing changed). A
    /// REGISTER with `Expires: 0` can go through the same check by
    /// upserting with `expires_at` = now: the binding is then no longer
    /// returned, and [`purge_expired`](Location::purge_expired) deletes it.
    fn upsert_binding(
        &self,
        binding: &Binding,
    ) -> impl Future<Output = Result<BindingWrite>> + Send;

    /// The registrar's group commit: in one transaction, every AOR in
    /// `cleared` loses all its bindings, then each of `bindings` is
    /// upserted as [`upsert_binding`](Location::upsert_binding) does. The
    /// outcome of each binding, in order. An (AOR, contact) must not appear
    /// twice in `bindings`, nor an AOR of `cleared` among them (the caller
    /// splits such a batch). All of it or, on error, none.
    fn write_bindings(
        &self,
        cleared: &[String],
        bindings: &[Binding],
    ) -> impl Future<Output = Result<Vec<BindingWrite>>> + Send;

    /// Deletes one binding; `false` if there was none.
    fn remove_binding(&self, aor: &str, contact: &str)
        -> impl Future<Output = Result<bool>> + Send;

    /// Deletes every binding of `aor` (a `Contact: *` REGISTER); how many.
    fn remove_all(&self, aor: &str) -> impl Future<Output = Result<u64>> + Send;

    /// The bindings of `aor` that expire after `now`, highest q first.
    fn bindings(
        &self,
        aor: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Binding>>> + Send;

    /// Deletes the bindings that expired at or before `now`; how many.
    fn purge_expired(&self, now: UnixMillis) -> impl Future<Output = Result<u64>> + Send;

    /// Every binding that expires after `now`: what a node loads into its
    /// cache when it starts.
    fn all_unexpired(&self, now: UnixMillis) -> impl Future<Output = Result<Vec<Binding>>> + Send;
}

/// Calls in progress and call detail records.
///
/// Throughput comes from [`write_calls`](Calls::write_calls): one database
/// transaction (and on SQLite one fsync) for a whole batch of opens,
/// answers and closes. The one-call methods are that same write with a
/// batch of one, and stricter: they report what a batch would skip.
pub trait Calls {
    /// Applies `batch` in one transaction: all of it or, on error, none.
    /// Input is validated first; see [`BatchOutcome`] for what is skipped.
    fn write_calls(&self, batch: &CallBatch) -> impl Future<Output = Result<BatchOutcome>> + Send;

    /// Records a call that started. `Conflict` if that call id is active.
    fn open_call(&self, call: &ActiveCall) -> impl Future<Output = Result<()>> + Send;

    /// Records the answer of an active call, and the B leg that won if
    /// given. `NotFound` if no unanswered active call has that id.
    fn mark_answered(
        &self,
        call_id: &str,
        answer_at: UnixMillis,
        b_leg_call_id: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Writes these CDRs and deletes their active calls, in one
    /// transaction; how many CDRs were new. Closing a call that already has
    /// its CDR writes nothing for it: one call, one CDR.
    fn close_calls(&self, cdrs: &[NewCdr]) -> impl Future<Output = Result<u64>> + Send;

    /// Closes every call still active on `node` (it was killed during
    /// them) as `Interrupted`, ending at `ended_at` (no earlier than what is
    /// known of the call), and returns the CDRs written. Pass the last time
    /// the node is known to have been alive if you have it: the restart
    /// time over-states the duration of calls answered before the kill.
    fn recover_interrupted(
        &self,
        node: &str,
        ended_at: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Cdr>>> + Send;

    /// The calls active on `node`, in start order.
    fn active_calls(&self, node: &str) -> impl Future<Output = Result<Vec<ActiveCall>>> + Send;

    /// CDRs matching `filter`, in id (= write) order.
    fn cdrs(&self, filter: &CdrFilter, page: Page)
        -> impl Future<Output = Result<Vec<Cdr>>> + Send;
}

/// Operator API tokens, kept as SHA-256 hashes.
pub trait ApiTokens {
    /// A new random token named `name`; the plaintext is in the result and
    /// nowhere else. `Conflict` if the name is taken.
    fn create_token(&self, name: &str) -> impl Future<Output = Result<NewToken>> + Send;

    /// Sets the token named `name` to `plaintext` (the operator's
    /// `--admin-token`), replacing the one it had.
    fn set_token(
        &self,
        name: &str,
        plaintext: &str,
    ) -> impl Future<Output = Result<TokenInfo>> + Send;

    /// The token's record if `plaintext` is a current token.
    fn verify_token(
        &self,
        plaintext: &str,
    ) -> impl Future<Output = Result<Option<TokenInfo>>> + Send;

    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenInfo>>> + Send;

    /// Deletes the token named `name`; `false` if there was none.
    fn revoke_token(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The number directory (SPEC §7): what each held number lists besides a
/// phone. Every change moves the
/// [`directory_version`](SipCredentials::directory_version), so the DNS
/// directory's in-memory copy knows when to reload.
pub trait Directory {
    /// Replaces what `number` (a key, as `numbers.number` holds it) lists
    /// with `entries`; all `None` clears them. Only the number's holder
    /// lists: `NotFound` if nobody holds it or `holder` does not, `Invalid`
    /// for an entry that would not make a valid NAPTR record. Returns the
    /// listing as stored. Writing what is already there changes nothing.
    fn set_directory_entries(
        &self,
        number: &str,
        holder: MemberId,
        entries: &DirectoryEntries,
    ) -> impl Future<Output = Result<DirectoryListing>> + Send;

    /// What `number` lists (possibly nothing); `None` if nobody holds it.
    fn directory_listing(
        &self,
        number: &str,
    ) -> impl Future<Output = Result<Option<DirectoryListing>>> + Send;

    /// Every held number and what it lists, in key order: what the DNS
    /// directory loads into memory.
    fn directory_listings(&self) -> impl Future<Output = Result<Vec<DirectoryListing>>> + Send;
}
