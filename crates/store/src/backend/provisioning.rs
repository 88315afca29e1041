// Provisioning links, written once and `include!`d into a `provisioning`
// module inside each engine's module (`sqlite.rs`, `postgres.rs`), which
// brings `Db`, `ThisStore`, `reader()` and `writer()` in with `use
// super::*`. The seal is `crate::provisioning`'s; tokens are made and hashed
// by `backend::token`, as API tokens are.

use sqlx::Row;

use crate::backend::token;
use crate::error::{Result, StoreError};
use crate::model::{check_number, MemberId, UnixMillis};
use crate::provisioning::{
    check_link_input, seal, unseal, NewProvisioningLink, OpenedLink, Provisioning,
    ProvisioningLink,
};

type LinkRow = <Db as sqlx::Database>::Row;

const LINK_COLUMNS: &str =
    "id, number, member_id, created_at, expires_at, fetches, last_fetched_at";

/// What a link's token looks like: the prefix and 64 lowercase hex digits.
const LINK_TOKEN_PREFIX: &str = "cxp_";

fn is_link_token(token: &str) -> bool {
    token
        .strip_prefix(LINK_TOKEN_PREFIX)
        .is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

fn link_from_row(row: &LinkRow) -> Result<ProvisioningLink> {
    Ok(ProvisioningLink {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        member_id: MemberId(row.try_get("member_id")?),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        fetches: row.try_get("fetches")?,
        last_fetched_at: row.try_get("last_fetched_at")?,
    })
}

impl Provisioning for ThisStore {
    async fn create_link(
        &self,
        number: &str,
        member: MemberId,
        sip_password: &str,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> Result<NewProvisioningLink> {
        check_number(number)?;
        check_link_input(sip_password, ttl_ms)?;
        let token = token::generate_with_prefix(LINK_TOKEN_PREFIX);
        // Written only while `member` holds `number` (the SELECT gives no
        // row otherwise); the number's one link is replaced in the same
        // statement, so the old token stops working at once.
        let row = sqlx::query(&format!(
            "INSERT INTO provisioning_links \
               (number, member_id, token_hash, sealed_password, created_at, expires_at, fetches) \
             SELECT number, member_id, $3, $4, $5, $6, 0 FROM numbers \
             WHERE number = $1 AND member_id = $2 \
             ON CONFLICT (number) DO UPDATE SET member_id = excluded.member_id, \
               token_hash = excluded.token_hash, sealed_password = excluded.sealed_password, \
               created_at = excluded.created_at, expires_at = excluded.expires_at, \
               fetches = 0, last_fetched_at = NULL \
             RETURNING {LINK_COLUMNS}"
        ))
        .bind(number)
        .bind(member.0)
        .bind(token::hash(&token))
        .bind(seal(&token, sip_password))
        .bind(now)
        .bind(now.saturating_add(ttl_ms))
        .fetch_optional(self.writer())
        .await?;
        match row {
            Some(row) => Ok(NewProvisioningLink {
                link: link_from_row(&row)?,
                token,
            }),
            None => Err(StoreError::not_found(format!(
                "member {member} does not hold number {}",
                crate::model::excerpt(number)
            ))),
        }
    }

    async fn open_link(&self, token: &str, now: UnixMillis) -> Result<Option<OpenedLink>> {
        if !is_link_token(token) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "UPDATE provisioning_links SET fetches = fetches + 1, last_fetched_at = $2 \
             WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING {LINK_COLUMNS}, sealed_password"
        ))
        .bind(token::hash(token))
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.try_get("sealed_password")?;
        // The token's hash matched, so only a changed row fails to open.
        let sip_password = unseal(token, &sealed).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                "a provisioning link's sealed password does not open with its token".into(),
            ))
        })?;
        Ok(Some(OpenedLink {
            link: link_from_row(&row)?,
            sip_password,
        }))
    }

    async fn link(&self, number: &str) -> Result<Option<ProvisioningLink>> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM provisioning_links WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn revoke_link(&self, number: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM provisioning_links WHERE number = $1")
            .bind(number)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn purge_links(&self, now: UnixMillis) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM provisioning_links WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected())
    }
}
