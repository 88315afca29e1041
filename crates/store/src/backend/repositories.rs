// The repositories, written once and `include!`d by `sqlite.rs` and
// `postgres.rs` (see `backend/mod.rs` for why). Not a module of its own: it
// is compiled inside each engine's module, where these are defined:
//
// - `Db`, the sqlx database, and `ThisStore`, the engine's store type, with
//   `reader()`, `writer()` (pools) and `begin_write()` (a transaction that
//   holds the write lock from its first statement);
// - the bulk writes of the call journal, which each engine does its own
//   fastest way: `insert_active_calls`, `answer_calls`, `insert_cdrs`,
//   `delete_active_calls`.
//
// The imports below are this file's; the engine modules import only what
// is theirs, so that no name is imported twice.

use std::slice;

use sip::digest::Algorithm;
use sqlx::error::ErrorKind;
use sqlx::{QueryBuilder, Row};

use crate::backend::sql;
use crate::backend::token;
use crate::directory::{DirectoryEntries, DirectoryListing};
use crate::error::{violation, Result, StoreError};
use crate::model::{
    check_number, check_number_of_kind, check_optional_text, check_text, check_token, country_code,
    email_key, ha1_hex, limits, now_millis, ActiveCall, Answer, BatchOutcome, Binding,
    BindingWrite, CallBatch, Cdr, CdrFilter, HeldNumber, Member, MemberId, NewCdr, NewMember,
    NewToken, NumberKind, Page, TokenInfo, UnixMillis,
};
use crate::repository::{
    ApiTokens, Calls, Directory, Location, Members, Numbers, SipCredentials,
};

type DbRow = <Db as sqlx::Database>::Row;
type DbConnection = <Db as sqlx::Database>::Connection;

// ---------------------------------------------------------------- rows

/// A stored value the model cannot represent: only possible if the
/// database was changed behind the store's back (the schema's CHECKs
/// exclude it), so it is reported as a decoding failure.
fn corrupt(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(err)))
}

fn member_from_row(row: &DbRow) -> Result<Member> {
    Ok(Member {
        id: MemberId(row.try_get("id")?),
        kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        country: row.try_get("country")?,
        created_at: row.try_get("created_at")?,
        role: row.try_get::<String, _>("role")?.parse().map_err(corrupt)?,
        company_id: row.try_get::<Option<i64>, _>("company_id")?.map(MemberId),
        profile: crate::accounts::MemberProfile {
            language: row.try_get("language")?,
            contact_pstn: row.try_get("contact_pstn")?,
            voip_elsewhere: row.try_get("voip_elsewhere")?,
        },
    })
}

fn number_from_row(row: &DbRow) -> Result<HeldNumber> {
    Ok(HeldNumber {
        number: row.try_get("number")?,
        kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        member_id: MemberId(row.try_get("member_id")?),
        assigned_at: row.try_get("assigned_at")?,
    })
}

fn listing_from_row(row: &DbRow) -> Result<DirectoryListing> {
    Ok(DirectoryListing {
        number: row.try_get("number")?,
        kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        holder: MemberId(row.try_get("member_id")?),
        entries: DirectoryEntries {
            sip: row.try_get("sip")?,
            web: row.try_get("web")?,
            email: row.try_get("email")?,
        },
    })
}

fn binding_from_row(row: &DbRow) -> Result<Binding> {
    Ok(Binding {
        aor: row.try_get("aor")?,
        contact: row.try_get("contact")?,
        q: u16::try_from(row.try_get::<i64, _>("q")?).map_err(corrupt)?,
        expires_at: row.try_get("expires_at")?,
        call_id: row.try_get("call_id")?,
        cseq: u32::try_from(row.try_get::<i64, _>("cseq")?).map_err(corrupt)?,
        path: row.try_get("path")?,
        received: row.try_get("received")?,
        instance_id: row.try_get("instance_id")?,
        reg_id: row
            .try_get::<Option<i64>, _>("reg_id")?
            .map(u32::try_from)
            .transpose()
            .map_err(corrupt)?,
        user_agent: row.try_get("user_agent")?,
        node: row.try_get("node")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn active_call_from_row(row: &DbRow) -> Result<ActiveCall> {
    Ok(ActiveCall {
        call_id: row.try_get("call_id")?,
        node: row.try_get("node")?,
        a_leg_call_id: row.try_get("a_leg_call_id")?,
        b_leg_call_id: row.try_get("b_leg_call_id")?,
        caller: row.try_get("caller")?,
        callee_dialled: row.try_get("callee_dialled")?,
        callee_presented: row.try_get("callee_presented")?,
        decision: row.try_get("decision")?,
        start_at: row.try_get("start_at")?,
        answer_at: row.try_get("answer_at")?,
    })
}

fn cdr_from_row(row: &DbRow) -> Result<Cdr> {
    Ok(Cdr {
        id: row.try_get("id")?,
        call_id: row.try_get("call_id")?,
        node: row.try_get("node")?,
        a_leg_call_id: row.try_get("a_leg_call_id")?,
        b_leg_call_id: row.try_get("b_leg_call_id")?,
        caller: row.try_get("caller")?,
        callee_dialled: row.try_get("callee_dialled")?,
        callee_presented: row.try_get("callee_presented")?,
        decision: row.try_get("decision")?,
        start_at: row.try_get("start_at")?,
        answer_at: row.try_get("answer_at")?,
        end_at: row.try_get("end_at")?,
        duration_ms: row.try_get("duration_ms")?,
        disposition: row
            .try_get::<String, _>("disposition")?
            .parse()
            .map_err(corrupt)?,
        sip_code: row
            .try_get::<Option<i64>, _>("sip_code")?
            .map(u16::try_from)
            .transpose()
            .map_err(corrupt)?,
    })
}

fn token_from_row(row: &DbRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

// ---------------------------------------------------------------- members

impl Members for ThisStore {
    async fn add_member(&self, new: &NewMember) -> Result<Member> {
        new.validate()?;
        let email_key = new.email.as_deref().map(email_key).transpose()?;
        let inserted = sqlx::query(sql::INSERT_MEMBER)
            .bind(new.kind.as_str())
            .bind(&new.display_name)
            .bind(&new.email)
            .bind(&email_key)
            .bind(country_code(&new.country)?)
            .bind(now_millis())
            .fetch_one(self.writer())
            .await;
        match inserted {
            Ok(row) => member_from_row(&row),
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                // The e-mail is the only unique column a new member brings.
                let email = new.email.as_deref().unwrap_or_default();
                let holder = self.member_by_email(email).await?;
                Err(StoreError::conflict(match holder {
                    Some(holder) => format!("e-mail {email} is registered to member {}", holder.id),
                    None => format!("e-mail {email} is registered to another member"),
                }))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn member(&self, id: MemberId) -> Result<Option<Member>> {
        let row = sqlx::query(sql::MEMBER_BY_ID)
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(member_from_row).transpose()
    }

    async fn members(&self, page: Page) -> Result<Vec<Member>> {
        let rows = sqlx::query(sql::MEMBERS_PAGE)
            .bind(page.after)
            .bind(page.sql_limit())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(member_from_row).collect()
    }

    async fn company_members(&self, company: MemberId, page: Page) -> Result<Vec<Member>> {
        let rows = sqlx::query(sql::COMPANY_MEMBERS_PAGE)
            .bind(company.0)
            .bind(page.after)
            .bind(page.sql_limit())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(member_from_row).collect()
    }

    async fn member_by_email(&self, email: &str) -> Result<Option<Member>> {
        // Whatever is not an e-mail address is nobody's.
        let Ok(key) = email_key(email) else {
            return Ok(None);
        };
        let row = sqlx::query(sql::MEMBER_BY_EMAIL_KEY)
            .bind(key)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(member_from_row).transpose()
    }
}

// ---------------------------------------------------------------- numbers

async fn held_number(pool: &sqlx::Pool<Db>, number: &str) -> Result<Option<HeldNumber>> {
    let row = sqlx::query(sql::NUMBER_HOLDER)
        .bind(number)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(number_from_row).transpose()
}

impl Numbers for ThisStore {
    async fn grant(&self, number: &str, kind: NumberKind, member: MemberId) -> Result<HeldNumber> {
        check_number_of_kind(number, kind)?;
        // Insert-if-free, then read who holds it: race-free on both engines
        // (a concurrent grant either loses the insert or is waited for).
        // Retried because a release may come between the two statements.
        for _ in 0..3 {
            let inserted = sqlx::query(sql::INSERT_NUMBER)
                .bind(number)
                .bind(kind.as_str())
                .bind(member.0)
                .bind(now_millis())
                .execute(self.writer())
                .await;
            match inserted {
                Err(err) if violation(&err) == Some(ErrorKind::ForeignKeyViolation) => {
                    return Err(StoreError::not_found(format!(
                        "member {member} does not exist"
                    )));
                }
                Err(err) => return Err(err.into()),
                Ok(_) => {}
            }
            // Read back on the writer: the insert's own connection on SQLite.
            let Some(held) = held_number(self.writer(), number).await? else {
                continue;
            };
            return if held.member_id == member && held.kind == kind {
                Ok(held)
            } else if held.member_id == member {
                Err(StoreError::conflict(format!(
                    "number {number} is already held by member {member} as a {} number",
                    held.kind
                )))
            } else {
                Err(StoreError::conflict(format!(
                    "number {number} is held by member {}",
                    held.member_id
                )))
            };
        }
        Err(StoreError::conflict(format!(
            "number {number} is being granted and released concurrently; try again"
        )))
    }

    async fn holder(&self, number: &str) -> Result<Option<HeldNumber>> {
        held_number(self.reader(), number).await
    }

    async fn numbers_of(&self, member: MemberId) -> Result<Vec<HeldNumber>> {
        let rows = sqlx::query(sql::NUMBERS_OF)
            .bind(member.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(number_from_row).collect()
    }

    async fn release(&self, number: &str) -> Result<HeldNumber> {
        let row = sqlx::query(sql::DELETE_NUMBER)
            .bind(number)
            .fetch_optional(self.writer())
            .await?;
        match row {
            Some(row) => number_from_row(&row),
            None => Err(StoreError::not_found(format!(
                "number {} is not held by any member",
                crate::model::excerpt(number)
            ))),
        }
    }
}

// ---------------------------------------------------------------- SIP credentials

impl SipCredentials for ThisStore {
    async fn set_password_ha1s(
        &self,
        username: &str,
        realm: &str,
        ha1s: &[(Algorithm, &str)],
    ) -> Result<()> {
        check_number(username)?;
        check_text("realm", realm, limits::REALM)?;
        if ha1s.is_empty() {
            return Err(StoreError::invalid(
                "HA1",
                "at least one algorithm's HA1 is needed",
            ));
        }
        let mut checked = Vec::with_capacity(ha1s.len());
        for (i, &(algorithm, ha1)) in ha1s.iter().enumerate() {
            if ha1s[..i].iter().any(|&(seen, _)| seen == algorithm) {
                return Err(StoreError::invalid(
                    "HA1",
                    format!("{algorithm} is given more than once"),
                ));
            }
            checked.push((algorithm, ha1_hex(algorithm, ha1)?));
        }

        let now = now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query(sql::DELETE_CREDENTIALS)
            .bind(username)
            .bind(realm)
            .execute(&mut *tx)
            .await?;
        for (algorithm, ha1) in &checked {
            let inserted = sqlx::query(sql::INSERT_CREDENTIAL)
                .bind(username)
                .bind(realm)
                .bind(algorithm.as_str())
                .bind(ha1)
                .bind(now)
                .execute(&mut *tx)
                .await;
            match inserted {
                Err(err) if violation(&err) == Some(ErrorKind::ForeignKeyViolation) => {
                    return Err(StoreError::not_found(format!(
                        "number {username} is not held by any member, so it cannot have SIP \
                         credentials; grant it first"
                    )));
                }
                other => {
                    other?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ha1(
        &self,
        username: &str,
        realm: &str,
        algorithm: Algorithm,
    ) -> Result<Option<String>> {
        let row = sqlx::query(sql::CREDENTIAL_HA1)
            .bind(username)
            .bind(realm)
            .bind(algorithm.as_str())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.map(|row| row.try_get("ha1")).transpose()?)
    }

    async fn directory_version(&self) -> Result<i64> {
        let row = sqlx::query(sql::DIRECTORY_VERSION)
            .fetch_one(self.reader())
            .await?;
        Ok(row.try_get("version")?)
    }
}

// ---------------------------------------------------------------- number directory

impl Directory for ThisStore {
    async fn set_directory_entries(
        &self,
        number: &str,
        holder: MemberId,
        entries: &DirectoryEntries,
    ) -> Result<DirectoryListing> {
        entries.validate()?;
        let shown = crate::model::excerpt(number);
        let mut tx = self.begin_write().await?;
        let current = sqlx::query(sql::DIRECTORY_LISTING)
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(listing_from_row)
            .transpose()?;
        let Some(current) = current else {
            return Err(StoreError::not_found(format!(
                "number {shown} is not held by any member, so it has no directory entries; \
                 grant it first"
            )));
        };
        if current.holder != holder {
            return Err(StoreError::not_found(format!(
                "number {shown} is held by member {}, not member {holder}",
                current.holder
            )));
        }
        if current.entries == *entries {
            return Ok(current);
        }
        let written = if entries.is_empty() {
            sqlx::query(sql::DELETE_DIRECTORY_ENTRIES)
                .bind(number)
                .bind(holder.0)
                .execute(&mut *tx)
                .await?
        } else {
            sqlx::query(sql::UPSERT_DIRECTORY_ENTRIES)
                .bind(number)
                .bind(holder.0)
                .bind(&entries.sip)
                .bind(&entries.web)
                .bind(&entries.email)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?
        };
        if written.rows_affected() == 0 {
            // Only PostgreSQL gets here: on SQLite the transaction holds
            // the write lock since the read above.
            return Err(StoreError::conflict(format!(
                "number {shown} changed hands while its directory entries were being set; \
                 try again"
            )));
        }
        tx.commit().await?;
        Ok(DirectoryListing {
            entries: entries.clone(),
            ..current
        })
    }

    async fn directory_listing(&self, number: &str) -> Result<Option<DirectoryListing>> {
        let row = sqlx::query(sql::DIRECTORY_LISTING)
            .bind(number)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(listing_from_row).transpose()
    }

    async fn directory_listings(&self) -> Result<Vec<DirectoryListing>> {
        let rows = sqlx::query(sql::DIRECTORY_LISTINGS)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(listing_from_row).collect()
    }
}

// ---------------------------------------------------------------- registrar bindings

/// Rows per statement of the registrar's group commit (13 values a row).
const BINDING_CHUNK: usize = 64;

impl Location for ThisStore {
    async fn upsert_binding(&self, binding: &Binding) -> Result<BindingWrite> {
        let written = self.write_bindings(&[], slice::from_ref(binding)).await?;
        // One binding in, one outcome out.
        Ok(written.first().copied().unwrap_or(BindingWrite::OutOfOrder))
    }

    async fn write_bindings(
        &self,
        cleared: &[String],
        bindings: &[Binding],
    ) -> Result<Vec<BindingWrite>> {
        bindings.iter().try_for_each(Binding::validate)?;
        let mut tx = self.begin_write().await?;
        for aors in cleared.chunks(BINDING_CHUNK) {
            let mut delete = QueryBuilder::<Db>::new("DELETE FROM bindings WHERE aor IN (");
            let mut list = delete.separated(", ");
            for aor in aors {
                list.push_bind(aor);
            }
            delete.push(")");
            delete.build().execute(&mut *tx).await?;
        }
        let mut applied = std::collections::HashSet::new();
        for chunk in bindings.chunks(BINDING_CHUNK) {
            let mut upsert = QueryBuilder::<Db>::new(concat!(
                "INSERT INTO bindings (",
                sql::binding_columns!(),
                ") "
            ));
            upsert.push_values(chunk, |mut row, b| {
                row.push_bind(&b.aor)
                    .push_bind(&b.contact)
                    .push_bind(i64::from(b.q))
                    .push_bind(b.expires_at)
                    .push_bind(&b.call_id)
                    .push_bind(i64::from(b.cseq))
                    .push_bind(&b.path)
                    .push_bind(&b.received)
                    .push_bind(&b.instance_id)
                    .push_bind(b.reg_id.map(i64::from))
                    .push_bind(&b.user_agent)
                    .push_bind(&b.node)
                    .push_bind(b.updated_at);
            });
            upsert.push(sql::UPSERT_BINDING_CONFLICT);
            upsert.push(" RETURNING aor, contact");
            for row in upsert.build().fetch_all(&mut *tx).await? {
                let aor: String = row.try_get("aor")?;
                let contact: String = row.try_get("contact")?;
                applied.insert((aor, contact));
            }
        }
        tx.commit().await?;
        Ok(bindings
            .iter()
            .map(|b| {
                if applied.contains(&(b.aor.clone(), b.contact.clone())) {
                    BindingWrite::Applied
                } else {
                    BindingWrite::OutOfOrder
                }
            })
            .collect())
    }

    async fn remove_binding(&self, aor: &str, contact: &str) -> Result<bool> {
        let deleted = sqlx::query(sql::DELETE_BINDING)
            .bind(aor)
            .bind(contact)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn remove_all(&self, aor: &str) -> Result<u64> {
        let deleted = sqlx::query(sql::DELETE_BINDINGS_OF)
            .bind(aor)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn bindings(&self, aor: &str, now: UnixMillis) -> Result<Vec<Binding>> {
        let rows = sqlx::query(sql::BINDINGS_OF)
            .bind(aor)
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(binding_from_row).collect()
    }

    async fn purge_expired(&self, now: UnixMillis) -> Result<u64> {
        let deleted = sqlx::query(sql::PURGE_BINDINGS)
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected())
    }

    async fn all_unexpired(&self, now: UnixMillis) -> Result<Vec<Binding>> {
        let rows = sqlx::query(sql::UNEXPIRED_BINDINGS)
            .bind(now)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(binding_from_row).collect()
    }
}

// ---------------------------------------------------------------- calls and CDRs

/// A batch's writes, in its order, on a connection inside a transaction.
async fn write_batch(conn: &mut DbConnection, batch: &CallBatch) -> Result<BatchOutcome> {
    let opened = insert_active_calls(conn, &batch.opened).await?;
    let answered = answer_calls(conn, &batch.answered).await?;
    let closed = count_new_cdrs(conn, &batch.closed).await?;
    delete_active_calls(conn, &batch.closed).await?;
    Ok(BatchOutcome {
        opened,
        answered,
        closed,
    })
}

impl Calls for ThisStore {
    async fn write_calls(&self, batch: &CallBatch) -> Result<BatchOutcome> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let mut tx = self.begin_write().await?;
        let outcome = write_batch(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn open_call(&self, call: &ActiveCall) -> Result<()> {
        call.validate()?;
        let mut conn = self.writer().acquire().await?;
        if insert_active_calls(&mut conn, slice::from_ref(call)).await? == 0 {
            return Err(StoreError::conflict(format!(
                "call {} is already open",
                call.call_id
            )));
        }
        Ok(())
    }

    async fn mark_answered(
        &self,
        call_id: &str,
        answer_at: UnixMillis,
        b_leg_call_id: Option<&str>,
    ) -> Result<()> {
        let answer = Answer {
            call_id: call_id.to_owned(),
            answer_at,
            b_leg_call_id: b_leg_call_id.map(str::to_owned),
        };
        answer.validate()?;
        let mut conn = self.writer().acquire().await?;
        if answer_calls(&mut conn, slice::from_ref(&answer)).await? == 0 {
            return Err(StoreError::not_found(format!(
                "no unanswered active call {}",
                crate::model::excerpt(call_id)
            )));
        }
        Ok(())
    }

    async fn close_calls(&self, cdrs: &[NewCdr]) -> Result<u64> {
        cdrs.iter().try_for_each(NewCdr::validate)?;
        if cdrs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let written = count_new_cdrs(&mut tx, cdrs).await?;
        delete_active_calls(&mut tx, cdrs).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn recover_interrupted(&self, node: &str, ended_at: UnixMillis) -> Result<Vec<Cdr>> {
        check_text("node", node, limits::NODE)?;
        let mut tx = self.begin_write().await?;
        // Deleting first takes the write lock at once (SQLite) and hands
        // each active call to exactly one recovering node (PostgreSQL).
        let rows = sqlx::query(sql::TAKE_ACTIVE_CALLS_OF)
            .bind(node)
            .fetch_all(&mut *tx)
            .await?;
        let mut cdrs = Vec::with_capacity(rows.len());
        for row in &rows {
            let call = active_call_from_row(row)?;
            let known_alive_at = call.answer_at.unwrap_or(call.start_at);
            cdrs.push(call.into_cdr(
                ended_at.max(known_alive_at),
                crate::model::Disposition::Interrupted,
                None,
            ));
        }
        let written = insert_cdrs(&mut tx, &cdrs).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn active_calls(&self, node: &str) -> Result<Vec<ActiveCall>> {
        let rows = sqlx::query(sql::ACTIVE_CALLS_OF)
            .bind(node)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(active_call_from_row).collect()
    }

    async fn cdrs(&self, filter: &CdrFilter, page: Page) -> Result<Vec<Cdr>> {
        let mut query = QueryBuilder::<Db>::new(sql::SELECT_CDRS);
        query.push(" WHERE id > ").push_bind(page.after);
        let texts = [
            (" AND call_id = ", &filter.call_id),
            (" AND node = ", &filter.node),
            (" AND caller = ", &filter.caller),
            (" AND callee_dialled = ", &filter.callee_dialled),
        ];
        for (condition, value) in texts {
            if let Some(value) = value {
                query.push(condition).push_bind(value);
            }
        }
        if let Some(disposition) = filter.disposition {
            query
                .push(" AND disposition = ")
                .push_bind(disposition.as_str());
        }
        if let Some(from) = filter.started_from {
            query.push(" AND start_at >= ").push_bind(from);
        }
        if let Some(before) = filter.started_before {
            query.push(" AND start_at < ").push_bind(before);
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(page.sql_limit());
        let rows = query.build().fetch_all(self.reader()).await?;
        rows.iter().map(cdr_from_row).collect()
    }
}

// ---------------------------------------------------------------- API tokens

impl ApiTokens for ThisStore {
    async fn create_token(&self, name: &str) -> Result<NewToken> {
        check_text("token name", name, limits::TOKEN_NAME)?;
        let plaintext = token::generate();
        let inserted = sqlx::query(sql::INSERT_TOKEN)
            .bind(name)
            .bind(token::hash(&plaintext))
            .bind(now_millis())
            .fetch_one(self.writer())
            .await;
        match inserted {
            Ok(row) => Ok(NewToken {
                info: token_from_row(&row)?,
                plaintext,
            }),
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => Err(
                StoreError::conflict(format!("an API token named {name:?} already exists")),
            ),
            Err(err) => Err(err.into()),
        }
    }

    async fn set_token(&self, name: &str, plaintext: &str) -> Result<TokenInfo> {
        check_text("token name", name, limits::TOKEN_NAME)?;
        check_token(plaintext)?;
        let upserted = sqlx::query(sql::UPSERT_TOKEN)
            .bind(name)
            .bind(token::hash(plaintext))
            .bind(now_millis())
            .fetch_one(self.writer())
            .await;
        match upserted {
            Ok(row) => token_from_row(&row),
            // The name is upserted, so only the hash can collide.
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => Err(
                StoreError::conflict("this token is already in use under another name"),
            ),
            Err(err) => Err(err.into()),
        }
    }

    async fn verify_token(&self, plaintext: &str) -> Result<Option<TokenInfo>> {
        if check_optional_text("API token", plaintext, limits::TOKEN).is_err() {
            return Ok(None);
        }
        let row = sqlx::query(sql::TOKEN_BY_HASH)
            .bind(token::hash(plaintext))
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(sql::TOKENS).fetch_all(self.reader()).await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name: &str) -> Result<bool> {
        let deleted = sqlx::query(sql::DELETE_TOKEN)
            .bind(name)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}
