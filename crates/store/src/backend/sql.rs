//! The statements both engines run as they are. Placeholders are `$N`,
//! which PostgreSQL and sqlx's SQLite driver both bind by number.

macro_rules! member_columns {
    () => {
        "id, kind, display_name, email, country, created_at, role, company_id, language, \
         contact_pstn, voip_elsewhere"
    };
}
macro_rules! number_columns {
    () => {
        "number, kind, member_id, assigned_at"
    };
}
macro_rules! binding_columns {
    () => {
        "aor, contact, q, expires_at, call_id, cseq, path, received, instance_id, reg_id, \
         user_agent, node, updated_at"
    };
}
macro_rules! active_call_columns {
    () => {
        "call_id, node, a_leg_call_id, b_leg_call_id, caller, callee_dialled, callee_presented, \
         decision, start_at, answer_at"
    };
}
macro_rules! cdr_columns {
    () => {
        "id, call_id, node, a_leg_call_id, b_leg_call_id, caller, callee_dialled, \
         callee_presented, decision, start_at, answer_at, end_at, duration_ms, disposition, \
         sip_code"
    };
}
/// A CDR's columns as the switch gives them (the id is the database's).
macro_rules! new_cdr_columns {
    () => {
        "call_id, node, a_leg_call_id, b_leg_call_id, caller, callee_dialled, callee_presented, \
         decision, start_at, answer_at, end_at, duration_ms, disposition, sip_code"
    };
}
macro_rules! token_columns {
    () => {
        "id, name, created_at"
    };
}

// Members.
pub(crate) const INSERT_MEMBER: &str = concat!(
    "INSERT INTO members (kind, display_name, email, email_key, country, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    member_columns!()
);
pub(crate) const MEMBER_BY_ID: &str =
    concat!("SELECT ", member_columns!(), " FROM members WHERE id = $1");
pub(crate) const MEMBER_BY_EMAIL_KEY: &str = concat!(
    "SELECT ",
    member_columns!(),
    " FROM members WHERE email_key = $1"
);
pub(crate) const MEMBERS_PAGE: &str = concat!(
    "SELECT ",
    member_columns!(),
    " FROM members WHERE id > $1 ORDER BY id LIMIT $2"
);
pub(crate) const COMPANY_MEMBERS_PAGE: &str = concat!(
    "SELECT ",
    member_columns!(),
    " FROM members WHERE company_id = $1 AND id <> $1 AND id > $2 ORDER BY id LIMIT $3"
);

// Numbers.
pub(crate) const INSERT_NUMBER: &str =
    "INSERT INTO numbers (number, kind, member_id, assigned_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (number) DO NOTHING";
pub(crate) const NUMBER_HOLDER: &str = concat!(
    "SELECT ",
    number_columns!(),
    " FROM numbers WHERE number = $1"
);
pub(crate) const NUMBERS_OF: &str = concat!(
    "SELECT ",
    number_columns!(),
    " FROM numbers WHERE member_id = $1 ORDER BY number"
);
pub(crate) const DELETE_NUMBER: &str = concat!(
    "DELETE FROM numbers WHERE number = $1 RETURNING ",
    number_columns!()
);

// SIP credentials.
pub(crate) const DELETE_CREDENTIALS: &str =
    "DELETE FROM sip_credentials WHERE username = $1 AND realm = $2";
pub(crate) const INSERT_CREDENTIAL: &str =
    "INSERT INTO sip_credentials (username, realm, algorithm, ha1, updated_at) \
     VALUES ($1, $2, $3, $4, $5)";
pub(crate) const DIRECTORY_VERSION: &str = "SELECT version FROM directory_version WHERE id = 1";

pub(crate) const CREDENTIAL_HA1: &str =
    "SELECT ha1 FROM sip_credentials WHERE username = $1 AND realm = $2 AND algorithm = $3";

// The number directory. A held number without entries has NULLs here.
pub(crate) const DIRECTORY_LISTING: &str =
    "SELECT n.number, n.kind, n.member_id, d.sip, d.web, d.email \
     FROM numbers AS n LEFT JOIN directory_entries AS d ON d.number = n.number \
     WHERE n.number = $1";
pub(crate) const DIRECTORY_LISTINGS: &str =
    "SELECT n.number, n.kind, n.member_id, d.sip, d.web, d.email \
     FROM numbers AS n LEFT JOIN directory_entries AS d ON d.number = n.number \
     ORDER BY n.number";
/// Writes only while `$2` still holds `$1`: a release or a new holder
/// between the check and the write leaves no row for the SELECT to give.
pub(crate) const UPSERT_DIRECTORY_ENTRIES: &str =
    "INSERT INTO directory_entries (number, sip, web, email, updated_at) \
     SELECT number, $3, $4, $5, $6 FROM numbers WHERE number = $1 AND member_id = $2 \
     ON CONFLICT (number) DO UPDATE SET sip = excluded.sip, web = excluded.web, \
       email = excluded.email, updated_at = excluded.updated_at";
pub(crate) const DELETE_DIRECTORY_ENTRIES: &str = "DELETE FROM directory_entries \
     WHERE number = $1 AND number IN (SELECT number FROM numbers WHERE member_id = $2)";

// Registrar bindings. The WHERE of the upsert is RFC 3261 section 10.3
// step 7: a REGISTER with the stored Call-ID must carry a higher CSeq.
pub(crate) const UPSERT_BINDING_CONFLICT: &str = " ON CONFLICT (aor, contact) DO UPDATE SET \
       q = excluded.q, expires_at = excluded.expires_at, call_id = excluded.call_id, \
       cseq = excluded.cseq, path = excluded.path, received = excluded.received, \
       instance_id = excluded.instance_id, reg_id = excluded.reg_id, \
       user_agent = excluded.user_agent, node = excluded.node, updated_at = excluded.updated_at \
     WHERE bindings.call_id <> excluded.call_id OR bindings.cseq < excluded.cseq";
pub(crate) const DELETE_BINDING: &str = "DELETE FROM bindings WHERE aor = $1 AND contact = $2";
pub(crate) const DELETE_BINDINGS_OF: &str = "DELETE FROM bindings WHERE aor = $1";
pub(crate) const BINDINGS_OF: &str = concat!(
    "SELECT ",
    binding_columns!(),
    " FROM bindings WHERE aor = $1 AND expires_at > $2 \
     ORDER BY q DESC, updated_at DESC, contact"
);
pub(crate) const PURGE_BINDINGS: &str = "DELETE FROM bindings WHERE expires_at <= $1";
pub(crate) const UNEXPIRED_BINDINGS: &str = concat!(
    "SELECT ",
    binding_columns!(),
    " FROM bindings WHERE expires_at > $1 ORDER BY aor, q DESC, updated_at DESC, contact"
);

// Calls and CDRs (the bulk writes are per engine).
pub(crate) const ACTIVE_CALLS_OF: &str = concat!(
    "SELECT ",
    active_call_columns!(),
    " FROM active_calls WHERE node = $1 ORDER BY start_at, call_id"
);
pub(crate) const TAKE_ACTIVE_CALLS_OF: &str = concat!(
    "DELETE FROM active_calls WHERE node = $1 RETURNING ",
    active_call_columns!()
);
pub(crate) const SELECT_CDRS: &str = concat!("SELECT ", cdr_columns!(), " FROM cdrs");

// API tokens.
pub(crate) const INSERT_TOKEN: &str = concat!(
    "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) RETURNING ",
    token_columns!()
);
pub(crate) const UPSERT_TOKEN: &str = concat!(
    "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, \
       created_at = excluded.created_at \
     RETURNING ",
    token_columns!()
);
pub(crate) const TOKEN_BY_HASH: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM api_tokens WHERE token_hash = $1"
);
pub(crate) const TOKENS: &str =
    concat!("SELECT ", token_columns!(), " FROM api_tokens ORDER BY id");
pub(crate) const DELETE_TOKEN: &str = "DELETE FROM api_tokens WHERE name = $1";

// The call journal, a whole batch per statement (PostgreSQL's way: one
// round trip, one array per column, one plan whatever the batch size).
pub(crate) const INSERT_ACTIVE_CALLS_UNNEST: &str = concat!(
    "INSERT INTO active_calls (",
    active_call_columns!(),
    ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
       $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[]) \
     ON CONFLICT (call_id) DO NOTHING"
);
pub(crate) const ANSWER_CALLS_UNNEST: &str = "UPDATE active_calls AS a \
     SET answer_at = v.answer_at, b_leg_call_id = COALESCE(v.b_leg_call_id, a.b_leg_call_id) \
     FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS v (call_id, answer_at, b_leg_call_id) \
     WHERE a.call_id = v.call_id AND a.answer_at IS NULL";
macro_rules! insert_cdrs_unnest {
    () => {
        concat!(
            "INSERT INTO cdrs (",
            new_cdr_columns!(),
            ") SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
               $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[], $11::int8[], \
               $12::int8[], $13::text[], $14::int8[]) \
             ON CONFLICT (call_id) DO NOTHING"
        )
    };
}
pub(crate) const INSERT_CDRS_UNNEST: &str = insert_cdrs_unnest!();
pub(crate) const INSERT_CDRS_UNNEST_RETURNING: &str =
    concat!(insert_cdrs_unnest!(), " RETURNING ", cdr_columns!());
pub(crate) const DELETE_ACTIVE_CALLS_ANY: &str =
    "DELETE FROM active_calls WHERE call_id = ANY($1::text[])";

pub(crate) use {active_call_columns, binding_columns, cdr_columns, new_cdr_columns};
