//! The company: its branches per country (where calls for the company in
//! that country go) and its members. Everyone in the company sees it;
//! the company's own account and its admins change the branches, with the
//! same rules and errors as `PUT/DELETE /api/v1/members/{id}/branches/
//! {country}` (`crate::accounts::set_branch_of`, `remove_branch_of`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use store::now_millis;
use store::orders::{clock_utc, shown};
use store::prelude::*;
use store::{Branch, BranchDestination, Branches, Member};

use super::{
    after, error_page, render_with, see_other, Chrome, CsrfForm, Flash, NoFields, PortalError,
    Signed, Visitor,
};
use crate::accounts::{remove_branch_of, set_branch_of, Caller};
use crate::AppState;

const PAGE: &str = "/my/company";
/// The most members the page lists.
const MEMBERS_SHOWN: u32 = 500;

/// The company `me` acts for, and whether `me` may change it; anyone
/// outside a company gets a 403 page.
async fn company_of(state: &AppState, signed: &Signed) -> Result<(Member, Caller, bool), Response> {
    let me = &signed.me;
    let company_id = if me.kind == MemberKind::Company {
        Some(me.id)
    } else {
        me.company_id
    };
    let company = match company_id {
        Some(id) => state.store.member(id).await.map_err(|err| {
            let err = PortalError::from(err);
            error_page(&signed.visitor, err.status, &err.detail)
        })?,
        None => None,
    };
    let Some(company) = company else {
        return Err(forbidden(&signed.visitor));
    };
    let caller = Caller::Member(Box::new(me.clone()));
    let may_change = caller.sees(&company);
    Ok((company, caller, may_change))
}

fn forbidden(visitor: &Visitor) -> Response {
    error_page(
        visitor,
        StatusCode::FORBIDDEN,
        "This page is for a company's members: your account is an individual's and belongs to \
         no company. The operator adds members to a company.",
    )
}

#[derive(Debug, Clone)]
struct BranchRow {
    country: String,
    to_kind: &'static str,
    to: String,
    default: bool,
    updated: String,
}

impl BranchRow {
    fn new(branch: &Branch, now: i64) -> BranchRow {
        let (to_kind, to) = match &branch.destination {
            BranchDestination::Terminal(key) => ("A terminal", shown(key)),
            BranchDestination::Group(keys) => (
                "Terminals ringing together",
                keys.iter()
                    .map(|key| shown(key))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            BranchDestination::Pstn(key) => ("A PSTN number", shown(key)),
        };
        BranchRow {
            country: branch.country.clone(),
            to_kind,
            to,
            default: branch.default,
            updated: clock_utc(branch.updated_at, now),
        }
    }
}

/// A number the company or one of its members holds: a terminal.
#[derive(Debug, Clone)]
struct Terminal {
    shown: String,
    holder: String,
}

#[derive(Debug, Clone)]
struct MemberRow {
    name: String,
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "company.html")]
struct CompanyPage {
    page: Chrome,
    company: Member,
    may_change: bool,
    branches: Vec<BranchRow>,
    terminals: Vec<Terminal>,
    members: Vec<MemberRow>,
    /// The form as posted, shown again with its reason.
    typed: BranchForm,
    error: Option<String>,
}

async fn company_page(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    typed: BranchForm,
    error: Option<String>,
) -> Response {
    let (company, _, may_change) = match company_of(state, signed).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = now_millis();
    let loaded = async {
        let branches = state.store.branches(company.id).await?;
        let members = state
            .store
            .company_members(company.id, Page::first(MEMBERS_SHOWN))
            .await?;
        let mut terminals = Vec::new();
        for holder in std::iter::once(&company).chain(&members) {
            for held in state.store.numbers_of(holder.id).await? {
                terminals.push(Terminal {
                    shown: shown(&held.number),
                    holder: holder.display_name.clone(),
                });
            }
        }
        Ok::<_, StoreError>((branches, members, terminals))
    }
    .await;
    let (branches, members, terminals) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let err = PortalError::from(err);
            return error_page(&signed.visitor, err.status, &err.detail);
        }
    };
    let page = CompanyPage {
        page: Chrome::new(&signed.visitor, company.display_name.clone()),
        may_change,
        branches: branches.iter().map(|b| BranchRow::new(b, now)).collect(),
        terminals,
        members: members
            .into_iter()
            .map(|member| MemberRow {
                name: member.display_name,
                email: member.email.unwrap_or_default(),
                role: member.role.to_string().replace('_', " "),
            })
            .collect(),
        company,
        typed,
        error,
    };
    render_with(&signed.visitor, status, &page)
}

pub async fn page(State(state): State<AppState>, signed: Signed) -> Response {
    company_page(&state, &signed, StatusCode::OK, BranchForm::default(), None).await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BranchForm {
    #[serde(default)]
    country: String,
    /// `terminal`, `group` or `pstn`.
    #[serde(default)]
    to: String,
    #[serde(default)]
    terminal: String,
    /// The group's numbers, one a line or comma-separated.
    #[serde(default)]
    group: String,
    #[serde(default)]
    pstn: String,
    #[serde(default)]
    default: Option<String>,
}

impl BranchForm {
    fn destination(&self) -> Result<BranchDestination, PortalError> {
        Ok(match self.to.as_str() {
            "terminal" => BranchDestination::Terminal(self.terminal.trim().to_owned()),
            "group" => BranchDestination::Group(
                self.group
                    .split([',', '\n'])
                    .map(str::trim)
                    .filter(|number| !number.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            "pstn" => BranchDestination::Pstn(self.pstn.trim().to_owned()),
            _ => {
                return Err(PortalError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    detail: "Choose where the branch's calls go: a terminal, a group or a PSTN \
                             number."
                        .to_owned(),
                })
            }
        })
    }
}

pub async fn set_branch(
    State(state): State<AppState>,
    signed: Signed,
    posted: CsrfForm<BranchForm>,
) -> Response {
    let form = posted.form;
    let (company, caller, may_change) = match company_of(&state, &signed).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !may_change {
        return only_admins(&signed);
    }
    let set = async {
        let destination = form.destination()?;
        Ok::<_, PortalError>(
            set_branch_of(
                &state,
                &caller,
                company.id.0,
                &form.country,
                &destination,
                form.default.is_some(),
            )
            .await?,
        )
    }
    .await;
    match set {
        Ok(branch) => see_other(
            PAGE,
            Flash::ok(format!(
                "Calls for the company in {} now go to {}.",
                branch.country,
                BranchRow::new(&branch, now_millis()).to
            )),
        ),
        Err(err) => company_page(&state, &signed, err.status, form, Some(err.detail)).await,
    }
}

pub async fn remove_branch(
    State(state): State<AppState>,
    signed: Signed,
    Path(country): Path<String>,
    _posted: CsrfForm<NoFields>,
) -> Response {
    let (company, caller, may_change) = match company_of(&state, &signed).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !may_change {
        return only_admins(&signed);
    }
    let removed = remove_branch_of(&state, &caller, company.id.0, &country).await;
    after(removed, PAGE, PAGE, |()| {
        format!("The branch in {} is removed.", country.to_ascii_uppercase())
    })
}

fn only_admins(signed: &Signed) -> Response {
    error_page(
        &signed.visitor,
        StatusCode::FORBIDDEN,
        "Only the company's admins change its branches; nothing was changed.",
    )
}
