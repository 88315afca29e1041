// Member accounts, written once and `include!`d into an `accounts` module
// inside each engine's module (`sqlite.rs`, `postgres.rs`), which brings
// `Db`, `ThisStore`, `reader()` and `writer()` in with `use super::*`. The
// rules (what a language tag or a contact number is) are
// `crate::accounts`'s; tokens are made and hashed by `backend::token`, as
// the operator's are.

use sqlx::error::ErrorKind;
use sqlx::Row;

use crate::accounts::{
    limits as account_limits, Accounts, Branch, BranchDestination, Branches, MemberProfile,
    MemberToken, NewMemberToken, NewSession, Role, Session, Sessions,
};
use crate::backend::token;
use crate::error::{violation, Result, StoreError};
use crate::backend::sql;
use crate::model::{
    check_optional_text, check_text, country_code, email_key, limits, now_millis, Member,
    MemberId, MemberKind, NewMember, UnixMillis,
};
use crate::repository::{Members, Numbers};

type AccountRow = <Db as sqlx::Database>::Row;

const TOKEN_COLUMNS: &str = "id, member_id, name, created_at";

fn member_token_from_row(row: &AccountRow) -> Result<MemberToken> {
    Ok(MemberToken {
        id: row.try_get("id")?,
        member_id: MemberId(row.try_get("member_id")?),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn unknown(member: MemberId) -> StoreError {
    StoreError::NotFound {
        what: format!("member {member} does not exist"),
    }
}

impl ThisStore {
    async fn existing(&self, member: MemberId) -> Result<Member> {
        self.member(member).await?.ok_or_else(|| unknown(member))
    }
}

impl Accounts for ThisStore {
    async fn open_account(
        &self,
        new: &NewMember,
        phc: &str,
        profile: &MemberProfile,
        role: Role,
    ) -> Result<Member> {
        new.validate()?;
        check_text("password hash", phc, account_limits::PASSWORD_HASH)?;
        let profile = profile.normalised()?;
        if role == Role::CompanyAdmin {
            return Err(StoreError::invalid(
                "role",
                "a company admin needs the company they administer; set the role after",
            ));
        }
        let email_key = new.email.as_deref().map(email_key).transpose()?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(sql::INSERT_MEMBER)
            .bind(new.kind.as_str())
            .bind(&new.display_name)
            .bind(&new.email)
            .bind(&email_key)
            .bind(country_code(&new.country)?)
            .bind(now_millis())
            .fetch_one(&mut *tx)
            .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get("id")?,
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                drop(tx);
                let email = new.email.as_deref().unwrap_or_default();
                return Err(StoreError::conflict(format!(
                    "e-mail {email} is registered to another member"
                )));
            }
            Err(err) => return Err(err.into()),
        };
        sqlx::query(
            "UPDATE members SET password_hash = $2, language = $3, contact_pstn = $4, \
             voip_elsewhere = $5, role = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(phc)
        .bind(&profile.language)
        .bind(&profile.contact_pstn)
        .bind(&profile.voip_elsewhere)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.existing(MemberId(id)).await
    }

    async fn set_profile(&self, member: MemberId, profile: &MemberProfile) -> Result<Member> {
        let profile = profile.normalised()?;
        let updated = sqlx::query(
            "UPDATE members SET language = $2, contact_pstn = $3, voip_elsewhere = $4 \
             WHERE id = $1",
        )
        .bind(member.0)
        .bind(&profile.language)
        .bind(&profile.contact_pstn)
        .bind(&profile.voip_elsewhere)
        .execute(self.writer())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(unknown(member));
        }
        self.existing(member).await
    }

    async fn set_role(
        &self,
        member: MemberId,
        role: Role,
        company: Option<MemberId>,
    ) -> Result<Member> {
        let this = self.existing(member).await?;
        if let Some(company) = company {
            if this.kind == MemberKind::Company {
                return Err(StoreError::invalid(
                    "company",
                    format!("member {member} is a company; a company belongs to no company"),
                ));
            }
            let company_member = self.member(company).await?;
            if company_member.map(|c| c.kind) != Some(MemberKind::Company) {
                return Err(StoreError::invalid(
                    "company",
                    format!("member {company} is not a company"),
                ));
            }
        } else if role == Role::CompanyAdmin {
            return Err(StoreError::invalid(
                "company",
                "a company admin needs the company they administer",
            ));
        }
        sqlx::query("UPDATE members SET role = $2, company_id = $3 WHERE id = $1")
            .bind(member.0)
            .bind(role.as_str())
            .bind(company.map(|c| c.0))
            .execute(self.writer())
            .await?;
        self.existing(member).await
    }

    async fn set_password_hash(&self, member: MemberId, phc: &str) -> Result<()> {
        check_text("password hash", phc, account_limits::PASSWORD_HASH)?;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query("UPDATE members SET password_hash = $2 WHERE id = $1")
            .bind(member.0)
            .bind(phc)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(unknown(member));
        }
        // Whoever knew the old password is logged out, in the same step.
        sqlx::query("DELETE FROM portal_sessions WHERE member_id = $1")
            .bind(member.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn password_hash(&self, member: MemberId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM members WHERE id = $1")
            .bind(member.0)
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("password_hash")?,
            None => None,
        })
    }

    async fn create_member_token(&self, member: MemberId, name: &str) -> Result<NewMemberToken> {
        check_text("token name", name, limits::TOKEN_NAME)?;
        self.existing(member).await?;
        let plaintext = token::generate();
        let inserted = sqlx::query(&format!(
            "INSERT INTO member_tokens (member_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(member.0)
        .bind(name)
        .bind(token::hash(&plaintext))
        .bind(now_millis())
        .fetch_one(self.writer())
        .await;
        match inserted {
            Ok(row) => Ok(NewMemberToken {
                info: member_token_from_row(&row)?,
                plaintext,
            }),
            Err(err) if violation(&err) == Some(ErrorKind::UniqueViolation) => {
                Err(StoreError::conflict(format!(
                    "member {member} already has an API token named {name:?}"
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn verify_member_token(&self, plaintext: &str) -> Result<Option<MemberToken>> {
        if check_optional_text("API token", plaintext, limits::TOKEN).is_err() {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM member_tokens WHERE token_hash = $1"
        ))
        .bind(token::hash(plaintext))
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(member_token_from_row).transpose()
    }

    async fn member_tokens(&self, member: MemberId) -> Result<Vec<MemberToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM member_tokens WHERE member_id = $1 ORDER BY id"
        ))
        .bind(member.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(member_token_from_row).collect()
    }

    async fn revoke_member_token(&self, member: MemberId, id: i64) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM member_tokens WHERE member_id = $1 AND id = $2")
            .bind(member.0)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}

// ---------------------------------------------------------------- sessions

impl Sessions for ThisStore {
    async fn open_session(
        &self,
        member: MemberId,
        now: UnixMillis,
        ttl_ms: i64,
    ) -> Result<NewSession> {
        self.existing(member).await?;
        let plaintext = token::generate();
        let session = Session {
            member_id: member,
            csrf: token::generate(),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms.max(0)),
        };
        sqlx::query(
            "INSERT INTO portal_sessions (token_hash, member_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token::hash(&plaintext))
        .bind(member.0)
        .bind(&session.csrf)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(self.writer())
        .await?;
        Ok(NewSession {
            token: plaintext,
            session,
        })
    }

    async fn session(&self, plaintext: &str, now: UnixMillis) -> Result<Option<Session>> {
        if check_optional_text("session", plaintext, limits::TOKEN).is_err() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT member_id, csrf, created_at, expires_at FROM portal_sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token::hash(plaintext))
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.map(|row| {
            Ok(Session {
                member_id: MemberId(row.try_get("member_id")?),
                csrf: row.try_get("csrf")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn close_session(&self, plaintext: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1")
            .bind(token::hash(plaintext))
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn purge_sessions(&self, now: UnixMillis) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(deleted.rows_affected())
    }
}

// ---------------------------------------------------------------- branches

const BRANCH_COLUMNS: &str = "company_id, country, destination_kind, destination, is_default, \
                              updated_at";

fn branch_from_row(row: &AccountRow) -> Result<Branch> {
    let corrupt = |err: StoreError| StoreError::Database(sqlx::Error::Decode(Box::new(err)));
    let kind: String = row.try_get("destination_kind")?;
    let text: String = row.try_get("destination")?;
    Ok(Branch {
        company_id: MemberId(row.try_get("company_id")?),
        country: row.try_get("country")?,
        destination: BranchDestination::from_stored(&kind, &text).map_err(corrupt)?,
        default: row.try_get("is_default")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl ThisStore {
    /// `company` if it is a company.
    async fn existing_company(&self, company: MemberId) -> Result<Member> {
        let member = self.existing(company).await?;
        if member.kind != MemberKind::Company {
            return Err(StoreError::invalid(
                "company",
                format!("member {company} is an individual; only companies have branches"),
            ));
        }
        Ok(member)
    }
}

impl Branches for ThisStore {
    async fn set_branch(
        &self,
        company: MemberId,
        country: &str,
        destination: &BranchDestination,
        default: bool,
    ) -> Result<Branch> {
        let country = country_code(country)?;
        let destination = destination.normalised()?;
        self.existing_company(company).await?;
        for number in destination.terminals() {
            let holder = self.holder(number).await?.map(|held| held.member_id);
            let of_company = match holder {
                Some(holder) if holder == company => true,
                Some(holder) => self
                    .member(holder)
                    .await?
                    .is_some_and(|member| member.company_id == Some(company)),
                None => false,
            };
            if !of_company {
                return Err(StoreError::invalid(
                    "terminal",
                    format!(
                        "number {number} is not held by company {company} or one of its members"
                    ),
                ));
            }
        }
        let mut tx = self.begin_write().await?;
        if default {
            sqlx::query(
                "UPDATE company_branches SET is_default = FALSE \
                 WHERE company_id = $1 AND country <> $2 AND is_default",
            )
            .bind(company.0)
            .bind(&country)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!(
            "INSERT INTO company_branches \
               (company_id, country, destination_kind, destination, is_default, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (company_id, country) DO UPDATE SET \
               destination_kind = excluded.destination_kind, \
               destination = excluded.destination, \
               is_default = excluded.is_default, updated_at = excluded.updated_at \
             RETURNING {BRANCH_COLUMNS}"
        ))
        .bind(company.0)
        .bind(&country)
        .bind(destination.kind())
        .bind(destination.stored())
        .bind(default)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        let branch = branch_from_row(&row)?;
        tx.commit().await?;
        Ok(branch)
    }

    async fn branch(&self, company: MemberId, country: &str) -> Result<Option<Branch>> {
        let country = country_code(country)?;
        let row = sqlx::query(&format!(
            "SELECT {BRANCH_COLUMNS} FROM company_branches WHERE company_id = $1 AND country = $2"
        ))
        .bind(company.0)
        .bind(country)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(branch_from_row).transpose()
    }

    async fn branches(&self, company: MemberId) -> Result<Vec<Branch>> {
        let rows = sqlx::query(&format!(
            "SELECT {BRANCH_COLUMNS} FROM company_branches WHERE company_id = $1 ORDER BY country"
        ))
        .bind(company.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(branch_from_row).collect()
    }

    async fn remove_branch(&self, company: MemberId, country: &str) -> Result<bool> {
        let country = country_code(country)?;
        let deleted =
            sqlx::query("DELETE FROM company_branches WHERE company_id = $1 AND country = $2")
                .bind(company.0)
                .bind(country)
                .execute(self.writer())
                .await?;
        Ok(deleted.rows_affected() > 0)
    }
}
