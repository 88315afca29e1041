// Claims, written once and `include!`d into a `claims` module inside each
// engine's module (`sqlite.rs`, `postgres.rs`), which brings `Db`,
// `ThisStore`, `reader()`, `writer()` and `begin_write()` in with
// `use super::*`. The rules (normalising, tokens, expiry, attempts) are
// `crate::claims`'s; this is only their storage.

use sqlx::error::ErrorKind;
use sqlx::Row;

use crate::claims::{
    self as rules, Claim, ClaimKind, ClaimState, Claims, NewClaim, VerifiedBy,
};
use crate::error::{violation, Result, StoreError};
use crate::model::{check_number_of_kind, excerpt, now_millis, MemberId};

type ClaimRow = <Db as sqlx::Database>::Row;

const COLUMNS: &str = "id, member_id, kind, value, number, token_hash, state, attempts, \
                       expires_at, created_at, verified_at, verified_by";

fn claim_from_row(row: &ClaimRow) -> Result<(Claim, String)> {
    let corrupt = |err: StoreError| StoreError::Database(sqlx::Error::Decode(Box::new(err)));
    let claim = Claim {
        id: row.try_get("id")?,
        member_id: MemberId(row.try_get("member_id")?),
        kind: row.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        value: row.try_get("value")?,
        number: row.try_get("number")?,
        state: row.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        attempts: row.try_get("attempts")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        verified_at: row.try_get("verified_at")?,
        verified_by: row
            .try_get::<Option<String>, _>("verified_by")?
            .map(|by| by.parse())
            .transpose()
            .map_err(corrupt)?,
    };
    Ok((claim, row.try_get("token_hash")?))
}

async fn claim_by_id<'c, E>(executor: E, id: i64) -> Result<Option<(Claim, String)>>
where
    E: sqlx::Executor<'c, Database = Db>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM claims WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(claim_from_row).transpose()
}

/// Who verified `value` already, as a conflict to report.
async fn verified_elsewhere(store: &ThisStore, kind: ClaimKind, value: &str) -> StoreError {
    let holder = sqlx::query(
        "SELECT member_id FROM claims WHERE kind = $1 AND value = $2 AND state = 'verified'",
    )
    .bind(kind.as_str())
    .bind(value)
    .fetch_optional(store.reader())
    .await;
    match holder {
        Ok(Some(row)) => match row.try_get::<i64, _>("member_id") {
            Ok(member) => StoreError::conflict(format!(
                "{kind} {value} is verified by member {member}; they must revoke it first"
            )),
            Err(err) => err.into(),
        },
        Ok(None) => StoreError::conflict(format!("{kind} {value} is verified by another member")),
        Err(err) => err.into(),
    }
}

/// Marks `claim` verified by `by`; a value another member verified first
/// (their write won the unique index) is a `Conflict`.
async fn mark_verified(
    store: &ThisStore,
    tx: &mut sqlx::Transaction<'static, Db>,
    claim: &Claim,
    by: VerifiedBy,
) -> Result<Claim> {
    let now = now_millis();
    let updated = sqlx::query(
        "UPDATE claims SET state = 'verified', verified_at = $2, verified_by = $3 \
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(claim.id)
    .bind(now)
    .bind(by.as_str())
    .execute(&mut **tx)
    .await;
    match updated {
        Ok(done) if done.rows_affected() == 1 => Ok(Claim {
            state: ClaimState::Verified,
            verified_at: Some(now),
            verified_by: Some(by),
            ..claim.clone()
        }),
        Ok(_) => Err(StoreError::conflict(format!(
            "claim {} changed while it was being verified; look at it again",
            claim.id
        ))),
        Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
            Err(verified_elsewhere(store, claim.kind, &claim.value).await)
        }
        Err(err) => Err(err.into()),
    }
}

impl Claims for ThisStore {
    async fn create_claim(
        &self,
        member: MemberId,
        kind: ClaimKind,
        value: &str,
        number: &str,
    ) -> Result<NewClaim> {
        let value = rules::normalise(kind, value)?;
        let wrong_kind = || {
            StoreError::invalid(
                "number",
                format!(
                    "{} is not a {}: a{} {kind} claim resolves to one",
                    excerpt(number),
                    kind.number_kind(),
                    if kind == ClaimKind::Email { "n" } else { "" }
                ),
            )
        };
        check_number_of_kind(number, kind.number_kind()).map_err(|_| wrong_kind())?;
        let held = sqlx::query("SELECT member_id, kind FROM numbers WHERE number = $1")
            .bind(number)
            .fetch_optional(self.reader())
            .await?;
        let held = match held {
            Some(row) => Some((
                row.try_get::<i64, _>("member_id")?,
                row.try_get::<String, _>("kind")?,
            )),
            None => None,
        };
        match held {
            Some((holder, _)) if holder != member.0 => {
                return Err(StoreError::not_found(format!(
                    "member {member} does not hold number {}",
                    excerpt(number)
                )))
            }
            None => {
                return Err(StoreError::not_found(format!(
                    "member {member} does not hold number {}",
                    excerpt(number)
                )))
            }
            Some((_, held_kind)) if held_kind != kind.number_kind().as_str() => {
                return Err(wrong_kind())
            }
            Some(_) => {}
        }
        let verified = sqlx::query(
            "SELECT member_id FROM claims WHERE kind = $1 AND value = $2 AND state = 'verified'",
        )
        .bind(kind.as_str())
        .bind(&value)
        .fetch_optional(self.reader())
        .await?;
        if let Some(row) = verified {
            let by: i64 = row.try_get("member_id")?;
            return Err(if by == member.0 {
                StoreError::conflict(format!(
                    "{kind} {value} is already verified for member {member}"
                ))
            } else {
                verified_elsewhere(self, kind, &value).await
            });
        }
        let token = rules::generate_token(kind);
        let now = now_millis();
        let row = sqlx::query(&format!(
            "INSERT INTO claims (member_id, kind, value, number, token_hash, state, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) \
             RETURNING {COLUMNS}"
        ))
        .bind(member.0)
        .bind(kind.as_str())
        .bind(&value)
        .bind(number)
        .bind(rules::token_hash(kind, &value, &token))
        .bind(rules::expires_at(kind, now))
        .bind(now)
        .fetch_one(self.writer())
        .await;
        match row {
            Ok(row) => Ok(NewClaim {
                claim: claim_from_row(&row)?.0,
                token,
            }),
            // The number was released between the check and the insert.
            Err(err) if violation(&err) == Some(ErrorKind::ForeignKeyViolation) => {
                Err(StoreError::not_found(format!(
                    "member {member} does not hold number {}",
                    excerpt(number)
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn verify_claim(&self, member: MemberId, id: i64, token: &str) -> Result<Claim> {
        self.verify_claim_with_any(member, id, &[token]).await
    }

    async fn verify_claim_with_any(
        &self,
        member: MemberId,
        id: i64,
        tokens: &[&str],
    ) -> Result<Claim> {
        let mut tx = self.begin_write().await?;
        let (claim, stored_hash) = match claim_by_id(&mut *tx, id).await? {
            Some(found) if found.0.member_id == member => found,
            _ => {
                return Err(StoreError::not_found(format!(
                    "member {member} has no claim {id}"
                )))
            }
        };
        if rules::check_token(&claim, &stored_hash, tokens, now_millis())? {
            let verified = mark_verified(self, &mut tx, &claim, claim.kind.proof()).await?;
            tx.commit().await?;
            return Ok(verified);
        }
        sqlx::query("UPDATE claims SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Err(rules::wrong_token(&claim))
    }

    async fn verify_claim_as_operator(&self, id: i64) -> Result<Claim> {
        let mut tx = self.begin_write().await?;
        let Some((claim, _)) = claim_by_id(&mut *tx, id).await? else {
            return Err(StoreError::not_found(format!("there is no claim {id}")));
        };
        match claim.state {
            ClaimState::Pending => {}
            ClaimState::Verified => return Ok(claim),
            ClaimState::Revoked => {
                return Err(StoreError::conflict(format!(
                    "claim {id} ({} {}) was revoked; claim it again",
                    claim.kind, claim.value
                )))
            }
        }
        let verified = mark_verified(self, &mut tx, &claim, VerifiedBy::Operator).await?;
        tx.commit().await?;
        Ok(verified)
    }

    async fn revoke_claim(&self, member: Option<MemberId>, id: i64) -> Result<Claim> {
        let mut tx = self.begin_write().await?;
        let claim = match claim_by_id(&mut *tx, id).await? {
            Some((claim, _)) if member.is_none_or(|m| m == claim.member_id) => claim,
            _ => {
                return Err(StoreError::not_found(match member {
                    Some(member) => format!("member {member} has no claim {id}"),
                    None => format!("there is no claim {id}"),
                }))
            }
        };
        if claim.state == ClaimState::Revoked {
            return Ok(claim);
        }
        sqlx::query("UPDATE claims SET state = 'revoked' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Claim {
            state: ClaimState::Revoked,
            ..claim
        })
    }

    async fn claim(&self, id: i64) -> Result<Option<Claim>> {
        Ok(claim_by_id(self.reader(), id).await?.map(|(claim, _)| claim))
    }

    async fn claims_of(&self, member: MemberId) -> Result<Vec<Claim>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM claims WHERE member_id = $1 ORDER BY id"
        ))
        .bind(member.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| claim_from_row(row).map(|(claim, _)| claim))
            .collect()
    }

    async fn verified_claim(&self, kind: ClaimKind, value: &str) -> Result<Option<String>> {
        let Ok(value) = rules::normalise(kind, value) else {
            return Ok(None);
        };
        // The number must still be the claimant's: a claim does not
        // outlive its number changing hands.
        let row = sqlx::query(
            "SELECT c.number FROM claims c \
             JOIN numbers n ON n.number = c.number AND n.member_id = c.member_id \
             WHERE c.kind = $1 AND c.value = $2 AND c.state = 'verified'",
        )
        .bind(kind.as_str())
        .bind(&value)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(|row| row.try_get("number")).transpose()?)
    }
}
