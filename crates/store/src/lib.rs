//! Callex's store: what the exchange remembers, on SQLite (the default, one
//! file under the data directory) or PostgreSQL (several nodes sharing one
//! database and acting as one exchange).
//!
//! It is for keeping data and keeping it whole: the schema and its
//! migrations for both engines, one repository trait per aggregate —
//! [`Members`], [`Numbers`], [`SipCredentials`], [`Location`] (registrar
//! bindings), [`Calls`] (active calls and CDRs), [`ApiTokens`],
//! [`Directory`] (what a number lists: SIP address, home page, mailbox),
//! [`Claims`] (verified e-mail addresses and domains),
//! [`Inventory`] (the numbers for sale), [`Orders`] (the purchase flow
//! and the prepaid ledger), [`Provisioning`] (the links softphones
//! download their SIP account from) —
//! and one
//! implementation of each per engine ([`SqliteStore`], [`PgStore`]), behind
//! the [`Store`] handle the switch and the CLI hold. Every write is checked
//! first (lengths, shapes, consistency) and refused with a [`StoreError`]
//! that says what to fix, changing nothing.
//!
//! It is not for the exchange's rules: what a dial string means, who may
//! call whom, what a call costs. Those live in the pure crates, and the
//! store keeps what they decide.
//!
//! Times are [`UnixMillis`]: integer milliseconds since the Unix epoch, UTC,
//! the same column type and arithmetic on both engines.
//!
//! # From the switch
//!
//! - Open one [`Store`] at start and clone it into tasks (the pools are
//!   shared). Every method's future is `Send`.
//! - Before taking calls, [`recover_interrupted`](Calls::recover_interrupted)
//!   with this node's name — stable across restarts — closes what the last
//!   run left open. It closes *every* active call of the node, so it must
//!   come before this run opens any.
//! - Group-commit the call journal: queue [`ActiveCall`]s, [`Answer`]s and
//!   [`NewCdr`]s and flush them as one [`CallBatch`] through
//!   [`write_calls`](Calls::write_calls) (every few milliseconds, or at 100
//!   records): one transaction and one fsync for all of them. A record is
//!   durable when its batch's `write_calls` has returned `Ok`. A batch that
//!   failed changed nothing and can be sent again as it is: duplicates are
//!   skipped.
//! - Call `validate()` on a record where it enters (the INVITE), so that a
//!   bad value is refused with a SIP error there rather than failing the
//!   batch it would have joined.
//! - [`bindings`](Location::bindings) already hides expired bindings;
//!   [`purge_expired`](Location::purge_expired) on a timer deletes them.
//!
//! On a 2-core machine with a local disk, `cargo bench -p store` measures
//! about 38,000 CDRs/s through `close_calls` in batches of 100 (SQLite, each
//! batch fsynced), and about 27,000 calls/s for a call's whole journal
//! (opened in one batch, closed in another).
//!
//! # Example
//!
//! ```
//! use store::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let data_dir = dir.path().to_str().unwrap();
//! // A data directory means SQLite (`callex.db` in it); `postgres://…` means
//! // PostgreSQL. Migrations run on open.
//! let store = Store::open(data_dir).await?;
//!
//! let alice = store
//!     .add_member(&NewMember {
//!         kind: MemberKind::Individual,
//!         display_name: "Alice".into(),
//!         email: Some("alice@example.com".into()),
//!         country: "KR".into(),
//!     })
//!     .await?;
//! store.grant("0262006200082", NumberKind::Pin, alice.id).await?;
//!
//! // Someone else cannot have it.
//! let bob = store
//!     .add_member(&NewMember {
//!         kind: MemberKind::Individual,
//!         display_name: "Bob".into(),
//!         email: None,
//!         country: "US".into(),
//!     })
//!     .await?;
//! let taken = store.grant("0262006200082", NumberKind::Pin, bob.id).await;
//! assert!(matches!(taken, Err(StoreError::Conflict { .. })));
//! # Ok(())
//! # }
//! ```

pub mod accounts;
mod backend;
pub mod claims;
pub mod directory;
mod error;
pub mod inventory;
mod model;
pub mod orders;
pub mod provisioning;
pub mod rentals;
mod repository;

pub use accounts::{
    Accounts, Branch, BranchDestination, Branches, MemberProfile, MemberToken, NewMemberToken,
    NewSession, Role, Session, Sessions,
};
pub use backend::postgres::PgStore;
pub use backend::sqlite::SqliteStore;
pub use claims::{Claim, ClaimKind, ClaimState, Claims, NewClaim, VerifiedBy};
pub use directory::{DirectoryEntries, DirectoryListing, EnumRecord};
pub use error::{Result, StoreError};
pub use inventory::{
    ImportOutcome, Inventory, InventorySearch, Listing, ListingKind, ListingState, NewListing,
    Premium,
};
pub use model::{
    limits, now_millis, ActiveCall, Answer, BatchOutcome, Binding, BindingWrite, CallBatch, Cdr,
    CdrFilter, Disposition, HeldNumber, Member, MemberId, MemberKind, NewCdr, NewMember, NewToken,
    NumberKind, Page, TokenInfo, UnixMillis,
};
pub use orders::{
    Actor, Balance, LedgerEntry, LedgerKind, NewOrder, Order, OrderEvent, OrderState, Orders,
    PaymentProvider, PrepaidBalance, Topup, TopupOutcome,
};
pub use provisioning::{NewProvisioningLink, OpenedLink, Provisioning, ProvisioningLink};
pub use rentals::{Arrear, BillingMonth, NumberRelease, RentalCharge, RentalRun, Rentals};
pub use repository::{ApiTokens, Calls, Directory, Location, Members, Numbers, SipCredentials};

/// The repository traits, the [`Store`] and the types their methods take.
pub mod prelude {
    pub use crate::{
        Accounts, ActiveCall, Answer, ApiTokens, Binding, BindingWrite, CallBatch, Calls, Cdr,
        CdrFilter, Claims, Directory, DirectoryEntries, Disposition, Location, MemberId,
        MemberKind, Members, NewCdr, NewMember, NumberKind, Numbers, Page, Sessions,
        SipCredentials, Store, StoreError,
    };
}

use std::fmt;
use std::path::Path;

use sip::digest::Algorithm;

/// Which engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        })
    }
}

/// The store, on whichever engine it was opened with. Cheap to clone (the
/// connection pools are shared); hold one per process.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens the store at `target` and brings its schema up to date:
    ///
    /// - `postgres://…` or `postgresql://…`: PostgreSQL;
    /// - `sqlite:…` (e.g. `sqlite:///var/lib/callex/callex.db`): that
    ///   SQLite file;
    /// - anything else is a path: an existing file is opened as SQLite;
    ///   otherwise it is the data directory (created if missing), holding
    ///   [`SqliteStore::FILE_NAME`].
    pub async fn open(target: &str) -> Result<Store> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            return Ok(PgStore::connect(target).await?.into());
        }
        if target.starts_with("sqlite:") {
            return Ok(SqliteStore::open_url(target).await?.into());
        }
        if let Some((scheme, _)) = target.split_once("://") {
            return Err(StoreError::Open {
                target: backend::postgres::redact_password(target),
                reason: format!(
                    "{scheme}:// is not a store; give a data directory, a sqlite: URL or a \
                     postgres:// URL"
                ),
            });
        }
        let path = Path::new(target);
        let file = if path.is_file() {
            path.to_path_buf()
        } else {
            path.join(SqliteStore::FILE_NAME)
        };
        Ok(SqliteStore::open(&file).await?.into())
    }

    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// Closes the connections (on SQLite, checkpointing the WAL). Commits
    /// are durable without it; it is for a tidy shutdown.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(store) => store.close().await,
            Backend::Postgres(store) => store.close().await,
        }
    }
}

impl From<SqliteStore> for Store {
    fn from(store: SqliteStore) -> Store {
        Store {
            backend: Backend::Sqlite(store),
        }
    }
}

impl From<PgStore> for Store {
    fn from(store: PgStore) -> Store {
        Store {
            backend: Backend::Postgres(store),
        }
    }
}

/// Calls the same method on whichever engine the store is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(store) => store.$method($($arg),*).await,
            Backend::Postgres(store) => store.$method($($arg),*).await,
        }
    };
}

impl Members for Store {
    async fn add_member(&self, new: &NewMember) -> Result<Member> {
        dispatch!(self.add_member(new))
    }
    async fn member(&self, id: MemberId) -> Result<Option<Member>> {
        dispatch!(self.member(id))
    }
    async fn members(&self, page: Page) -> Result<Vec<Member>> {
        dispatch!(self.members(page))
    }
    async fn company_members(&self, company: MemberId, page: Page) -> Result<Vec<Member>> {
        dispatch!(self.company_members(company, page))
    }
    async fn member_by_email(&self, email: &str) -> Result<Option<Member>> {
        dispatch!(self.member_by_email(email))
    }
}

impl Numbers for Store {
    async fn grant(&self, number: &str, kind: NumberKind, member: MemberId) -> Result<HeldNumber> {
        dispatch!(self.grant(number, kind, member))
    }
    async fn holder(&self, number: &str) -> Result<Option<HeldNumber>> {
        dispatch!(self.holder(number))
    }
    async fn numbers_of(&self, member: MemberId) -> Result<Vec<HeldNumber>> {
        dispatch!(self.numbers_of(member))
    }
    async fn release(&self, number: &str) -> Result<HeldNumber> {
        dispatch!(self.release(number))
    }
}

impl SipCredentials for Store {
    async fn set_password_ha1s(
        &self,
        username: &str,
        realm: &str,
        ha1s: &[(Algorithm, &str)],
    ) -> Result<()> {
        dispatch!(self.set_password_ha1s(username, realm, ha1s))
    }
    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        algorithm: Algorithm,
    ) -> Result<Option<String>> {
        dispatch!(self.ha1(username, realm, algorithm))
    }
    async fn directory_version(&self) -> Result<i64> {
        dispatch!(self.directory_version())
    }
}

impl Directory for Store {
    async fn set_directory_entries(
        &self,
        number: &str,
        holder: MemberId,
        entries: &DirectoryEntries,
    ) -> Result<DirectoryListing> {
        dispatch!(self.set_directory_entries(number, holder, entries))
    }
    async fn directory_listing(&self, number: &str) -> Result<Option<DirectoryListing>> {
        dispatch!(self.directory_listing(number))
    }
    async fn directory_listings(&self) -> Result<Vec<DirectoryListing>> {
        dispatch!(self.directory_listings())
    }
}

impl Location for Store {
    async fn upsert_binding(&self, binding: &Binding) -> Result<BindingWrite> {
        dispatch!(self.upsert_binding(binding))
    }
    async fn write_bindings(
        &self,
        cleared: &[String],
        bindings: &[Binding],
    ) -> Result<Vec<BindingWrite>> {
        dispatch!(self.write_bindings(cleared, bindings))
    }
    async fn remove_binding(&self, aor: &str, contact: &str) -> Result<bool> {
        dispatch!(self.remove_binding(aor, contact))
    }
    async fn remove_all(&self, aor: &str) -> Result<u64> {
        dispatch!(self.remove_all(aor))
    }
    async fn bindings(&self, aor: &str, now: UnixMillis) -> Result<Vec<Binding>> {
        dispatch!(self.bindings(aor, now))
    }
    async fn purge_expired(&self, now: UnixMillis) -> Result<u64> {
        dispatch!(self.purge_expired(now))
    }
    async fn all_unexpired(&self, now: UnixMillis) -> Result<Vec<Binding>> {
        dispatch!(self.all_unexpired(now))
    }
}

impl Calls for Store {
    async fn write_calls(&self, batch: &CallBatch) -> Result<BatchOutcome> {
        dispatch!(self.write_calls(batch))
    }
    async fn open_call(&self, call: &ActiveCall) -> Result<()> {
        dispatch!(self.open_call(call))
    }
    async fn mark_answered(
        &self,
        call_id: &str,
        answer_at: UnixMillis,
        b_leg_call_id: Option<&str>,
    ) -> Result<()> {
        dispatch!(self.mark_answered(call_id, answer_at, b_leg_call_id))
    }
    async fn close_calls(&self, cdrs: &[NewCdr]) -> Result<u64> {
        dispatch!(self.close_calls(cdrs))
    }
    async fn recover_interrupted(&self, node: &str, ended_at: UnixMillis) -> Result<Vec<Cdr>> {
        dispatch!(self.recover_interrupted(node, ended_at))
    }
    async fn active_calls(&self, node: &str) -> Result<Vec<ActiveCall>> {
        dispatch!(self.active_calls(node))
    }
    async fn cdrs(&self, filter: &CdrFilter, page: Page) -> Result<Vec<Cdr>> {
        dispatch!(self.cdrs(filter, page))
    }
}

impl ApiTokens for Store {
    async fn create_token(&self, name: &str) -> Result<NewToken> {
        dispatch!(self.create_token(name))
    }
    async fn set_token(&self, name: &str, plaintext: &str) -> Result<TokenInfo> {
        dispatch!(self.set_token(name, plaintext))
    }
    async fn verify_token(&self, plaintext: &str) -> Result<Option<TokenInfo>> {
        dispatch!(self.verify_token(plaintext))
    }
    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        dispatch!(self.tokens())
    }
    async fn revoke_token(&self, name: &str) -> Result<bool> {
        dispatch!(self.revoke_token(name))
    }
}

impl Accounts for Store {
    async fn open_account(
        &self,
        new: &NewMember,
        phc: &str,
        profile: &MemberProfile,
        role: Role,
    ) -> Result<Member> {
        dispatch!(self.open_account(new, phc, profile, role))
    }
    async fn set_profile(&self, member: MemberId, profile: &MemberProfile) -> Result<Member> {
        dispatch!(self.set_profile(member, profile))
    }
    async fn set_role(
        &self,
        member: MemberId,
        role: Role,
        company: Option<MemberId>,
    ) -> Result<Member> {
        dispatch!(self.set_role(member, role, company))
    }
    async fn set_password_hash(&self, member: MemberId, phc: &str) -> Result<()> {
        dispatch!(self.set_password_hash(member, phc))
    }
    async fn password_hash(&self, member: MemberId) -> Result<Option<String>> {
        dispatch!(self.password_hash(member))
    }
    async fn create_member_token(&self, member: MemberId, name: &str) -> Result<NewMemberToken> {
        dispatch!(self.create_member_token(member, name))
    }
    async fn verify_member_token(&self, plaintext: &str) -> Result<Option<MemberToken>> {
        dispatch!(self.verify_member_token(plaintext))
    }
    async fn member_tokens(&self, member: MemberId) -> Result<Vec<MemberToken>> {
        dispatch!(self.member_tokens(member))
    }
    async fn revoke_member_token(&self, member: MemberId, id: i64) -> Result<bool> {
        dispatch!(self.revoke_member_token(member, id))
    }
}

impl Sessions for Store {
    async fn open_session(
        &self,
        member: MemberId,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> Result<NewSession> {
        dispatch!(self.open_session(member, now, ttl_ms))
    }
    async fn session(&self, token: &str, now: UnixMillis) -> Result<Option<Session>> {
        dispatch!(self.session(token, now))
    }
    async fn close_session(&self, token: &str) -> Result<bool> {
        dispatch!(self.close_session(token))
    }
    async fn purge_sessions(&self, now: UnixMillis) -> Result<u64> {
        dispatch!(self.purge_sessions(now))
    }
}

impl Branches for Store {
    async fn set_branch(
        &self,
        company: MemberId,
        country: &str,
        destination: &BranchDestination,
        default: bool,
    ) -> Result<Branch> {
        dispatch!(self.set_branch(company, country, destination, default))
    }
    async fn branch(&self, company: MemberId, country: &str) -> Result<Option<Branch>> {
        dispatch!(self.branch(company, country))
    }
    async fn branches(&self, company: MemberId) -> Result<Vec<Branch>> {
        dispatch!(self.branches(company))
    }
    async fn remove_branch(&self, company: MemberId, country: &str) -> Result<bool> {
        dispatch!(self.remove_branch(company, country))
    }
}

impl Provisioning for Store {
    async fn create_link(
        &self,
        number: &str,
        member: MemberId,
        sip_password: &str,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> Result<NewProvisioningLink> {
        dispatch!(self.create_link(number, member, sip_password, now, ttl_ms))
    }
    async fn open_link(&self, token: &str, now: UnixMillis) -> Result<Option<OpenedLink>> {
        dispatch!(self.open_link(token, now))
    }
    async fn link(&self, number: &str) -> Result<Option<ProvisioningLink>> {
        dispatch!(self.link(number))
    }
    async fn revoke_link(&self, number: &str) -> Result<bool> {
        dispatch!(self.revoke_link(number))
    }
    async fn purge_links(&self, now: UnixMillis) -> Result<u64> {
        dispatch!(self.purge_links(now))
    }
}
