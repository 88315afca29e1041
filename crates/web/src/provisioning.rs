//! The provisioning profile (SPEC §3, the seed's "flash card"): a member's
//! SIP account for one of their numbers, as a file or a link a softphone
//! imports, and the terminals registered with it.
//!
//! [`issue_profile`] is the one way to make a profile, shared by the API,
//! the `callex number profile` command and the portal: it sets a new SIP
//! password (the old one stops working at once; only a new password can be
//! shown, as the store keeps HA1s) and a link `/p/{token}` that serves the
//! profile for a day. The formats are pure functions of a [`Profile`]:
//! [`linphone_xml`] (Linphone's remote provisioning, imported through
//! [`linphone_import_uri`]), [`baresip_account`] (a line of baresip's
//! `accounts` file) and [`card`] (for people).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use store::prelude::*;
use store::provisioning::DEFAULT_LINK_TTL_MS;
use store::{Binding, HeldNumber, Provisioning, UnixMillis};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Caller;
use crate::operator;
use crate::problem::{problem, ApiError, ApiPath, Problem};
use crate::AppState;

// ---------------------------------------------------------------- where phones register

/// A SIP transport phones can register over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    Udp,
    Tcp,
}

impl SipTransport {
    /// The `transport=` URI parameter's value.
    pub fn param(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
        }
    }

    /// The name people read (`UDP`).
    pub fn name(self) -> &'static str {
        match self {
            SipTransport::Udp => "UDP",
            SipTransport::Tcp => "TCP",
        }
    }
}

/// Where the exchange takes REGISTERs, as `callex serve` knows it: what
/// profiles tell phones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisioningTarget {
    /// The host phones reach the exchange at (`sip_advertise`). Without
    /// it: a listener's own address, else the host the HTTP request was
    /// sent to, else the realm.
    pub host: Option<String>,
    /// Every SIP socket served; none means the SIP default, 5060 over UDP
    /// and TCP.
    pub listeners: Vec<(SipTransport, SocketAddr)>,
}

/// The server a profile names: a host and its ports, UDP first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipServer {
    pub host: String,
    pub endpoints: Vec<(SipTransport, u16)>,
}

impl ProvisioningTarget {
    /// The server for a profile asked for through an HTTP request to
    /// `request_host` (its `Host` header), if any.
    pub fn server(&self, request_host: Option<&str>, realm: &str) -> SipServer {
        let mut endpoints: Vec<(SipTransport, u16)> = if self.listeners.is_empty() {
            vec![(SipTransport::Udp, 5060), (SipTransport::Tcp, 5060)]
        } else {
            self.listeners.iter().map(|(t, a)| (*t, a.port())).collect()
        };
        endpoints.sort_by_key(|(transport, _)| *transport == SipTransport::Tcp);
        endpoints.dedup();
        let listener_ip = self
            .listeners
            .iter()
            .map(|(_, addr)| addr.ip())
            .find(|ip| !ip.is_unspecified());
        let host = self
            .host
            .clone()
            .or_else(|| listener_ip.map(|ip| ip.to_string()))
            .or_else(|| request_host.and_then(host_of).map(str::to_owned))
            .unwrap_or_else(|| realm.to_owned());
        SipServer { host, endpoints }
    }
}

/// The host part of a `Host` header (`example.net:8080`, `[::1]:8080`),
/// if it is a plain host name or address.
fn host_of(authority: &str) -> Option<&str> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    plain.then_some(host)
}

// ---------------------------------------------------------------- the profile

/// Everything a profile says: the account, its password, where to
/// register.
#[derive(Clone, PartialEq, Eq)]
pub struct Profile {
    /// The number as people write it (`02-6200-6200-082`).
    pub number: String,
    /// The SIP username and authentication user: the number's store key.
    pub username: String,
    pub password: String,
    /// The digest realm.
    pub realm: String,
    pub server: SipServer,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("number", &self.number)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .field("server", &self.server)
            .finish()
    }
}

impl Profile {
    fn new(held: &HeldNumber, password: String, realm: &str, server: SipServer) -> Profile {
        let number = numbering::Number::from_key(held.kind.into(), &held.number)
            .map_or_else(|_| held.number.clone(), |number| number.to_string());
        Profile {
            number,
            username: held.number.clone(),
            password,
            realm: realm.to_owned(),
            server,
        }
    }

    /// The host as a URI writes it: an IPv6 address in brackets.
    fn uri_host(&self) -> String {
        match self.server.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.server.host.clone(),
        }
    }

    /// The username as a URI's user part: `#` (a company branch) as `%23`.
    fn uri_user(&self) -> String {
        self.username.replace('#', "%23")
    }

    /// The preferred endpoint: UDP if served, else the first.
    fn preferred(&self) -> Option<(SipTransport, u16)> {
        self.server.endpoints.first().copied()
    }

    /// `sip:USER@HOST`: the address of record phones register.
    pub fn sip_address(&self) -> String {
        format!("sip:{}@{}", self.uri_user(), self.uri_host())
    }

    /// `sip:HOST:PORT;transport=T` of the preferred endpoint.
    fn proxy(&self) -> String {
        match self.preferred() {
            Some((transport, port)) => format!(
                "sip:{}:{port};transport={}",
                self.uri_host(),
                transport.param()
            ),
            None => format!("sip:{}", self.uri_host()),
        }
    }
}

/// A profile's password or server cannot be written into a format
/// without changing what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresentable(pub String);

impl std::fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // XML 1.0 has no way to carry other control characters.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {
                escaped.push('\u{FFFD}');
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Linphone's remote provisioning document (the `lpconfig.xsd` XML form
/// of a linphonerc): one account, `proxy_0`, and its credentials,
/// `auth_info_0`.
pub fn linphone_xml(profile: &Profile) -> String {
    let entry = |name: &str, value: &str| {
        format!(
            "    <entry name=\"{name}\" overwrite=\"true\">{}</entry>\n",
            escape_xml(value)
        )
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <config xmlns=\"http://www.linphone.org/xsds/lpconfig.xsd\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.linphone.org/xsds/lpconfig.xsd lpconfig.xsd\">\n",
    );
    xml.push_str("  <section name=\"proxy_0\">\n");
    xml.push_str(&entry("reg_identity", &profile.sip_address()));
    xml.push_str(&entry("reg_proxy", &format!("<{}>", profile.proxy())));
    xml.push_str(&entry("realm", &profile.realm));
    xml.push_str(&entry("reg_expires", "600"));
    xml.push_str(&entry("reg_sendregister", "1"));
    xml.push_str("  </section>\n  <section name=\"auth_info_0\">\n");
    xml.push_str(&entry("username", &profile.username));
    xml.push_str(&entry("userid", &profile.username));
    xml.push_str(&entry("passwd", &profile.password));
    xml.push_str(&entry("realm", &profile.realm));
    xml.push_str(&entry("domain", &profile.server.host));
    xml.push_str("  </section>\n</config>\n");
    xml
}

/// What a Linphone app opens to import the profile at `xml_url` (an
/// `https://…/p/TOKEN.xml`): its `linphone-config:` URI, as a QR code or
/// a link on the phone.
pub fn linphone_import_uri(xml_url: &str) -> String {
    format!("linphone-config:{xml_url}")
}

/// One line of baresip's `accounts` file:
/// `<sip:USER@HOST:PORT;transport=udp>;auth_user=USER;auth_pass=…`.
/// baresip's line has no quoting, so a value holding one of its
/// separators (`; , < > "`, spaces, controls) is refused rather than
/// written to mean something else.
pub fn baresip_account(profile: &Profile) -> Result<String, Unrepresentable> {
    let plain = |what: &str, value: &str| {
        let bad = value.is_empty()
            || value.chars().any(|c| {
                c.is_control() || c.is_whitespace() || matches!(c, ';' | ',' | '<' | '>' | '"')
            });
        if bad {
            Err(Unrepresentable(format!(
                "the {what} holds a character baresip's account line cannot carry"
            )))
        } else {
            Ok(())
        }
    };
    plain("SIP password", &profile.password)?;
    plain("server", &profile.server.host)?;
    plain("username", &profile.username)?;
    let (transport, port) = profile.preferred().unwrap_or((SipTransport::Udp, 5060));
    Ok(format!(
        "<sip:{user}@{host}:{port};transport={transport}>;auth_user={user};auth_pass={pass};\
         regint=600\n",
        user = profile.uri_user(),
        host = profile.uri_host(),
        transport = transport.param(),
        pass = profile.password,
    ))
}

/// Control characters shown as escapes, so a card cannot rewrite the
/// terminal it is printed on.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The card for people: the account, the password, the server and its
/// ports.
pub fn card(profile: &Profile) -> String {
    let mut card = String::new();
    let mut line = |label: &str, value: &str| {
        // Writing to a String cannot fail.
        let _ = writeln!(card, "{label:<18}{}", printable(value));
    };
    line("Number:", &profile.number);
    line("SIP address:", &profile.sip_address());
    line("Username:", &profile.username);
    line("Password:", &profile.password);
    line("Realm:", &profile.realm);
    line("Server:", &profile.server.host);
    for (transport, port) in &profile.server.endpoints {
        line("", &format!("{} port {port}", transport.name()));
    }
    card
}

// ---------------------------------------------------------------- issuing and opening

/// A profile just issued: its password and link token are shown once.
#[derive(Debug, Clone)]
pub struct IssuedProfile {
    pub profile: Profile,
    pub member_id: MemberId,
    /// The link's token: the profile is at `/p/{token}`.
    pub token: String,
    pub expires_at: UnixMillis,
}

/// The number `written` means, if `member` holds it; otherwise the same
/// `NotFound` whoever holds it.
pub async fn members_number<S>(
    store: &S,
    member: MemberId,
    written: &str,
) -> Result<HeldNumber, StoreError>
where
    S: Numbers + Sync,
{
    match operator::held_number(store, written).await {
        Ok(held) if held.member_id == member => Ok(held),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(StoreError::NotFound {
            what: format!(
                "member {member} holds no number {}",
                operator::quoted(written)
            ),
        }),
        Err(err) => Err(err),
    }
}

/// Issues `member`'s profile for their number `written`: a new generated
/// SIP password (the old one stops working at once) and a link that
/// serves the profile for [`DEFAULT_LINK_TTL_MS`], replacing the number's
/// earlier link. A number the member does not hold is `NotFound` and
/// changes nothing.
pub async fn issue_profile<S>(
    store: &S,
    realm: &str,
    server: SipServer,
    member: MemberId,
    written: &str,
    now: UnixMillis,
) -> Result<IssuedProfile, StoreError>
where
    S: Numbers + SipCredentials + Provisioning + Sync,
{
    let held = members_number(store, member, written).await?;
    let reset = operator::reset_sip_password(store, realm, &held.number, None).await?;
    let link = store
        .create_link(
            &held.number,
            member,
            &reset.password.secret,
            now,
            DEFAULT_LINK_TTL_MS,
        )
        .await?;
    Ok(IssuedProfile {
        profile: Profile::new(&reset.held, reset.password.secret, realm, server),
        member_id: member,
        token: link.token,
        expires_at: link.link.expires_at,
    })
}

/// The profile behind a link's `token`, if it is current, counting the
/// fetch; `None` for an unknown, malformed or expired token alike.
pub async fn open_profile<S>(
    store: &S,
    realm: &str,
    server: SipServer,
    token: &str,
    now: UnixMillis,
) -> Result<Option<Profile>, StoreError>
where
    S: Numbers + Provisioning + Sync,
{
    let Some(opened) = store.open_link(token, now).await? else {
        return Ok(None);
    };
    let Some(held) = store.holder(&opened.link.number).await? else {
        return Ok(None);
    };
    Ok(Some(Profile::new(
        &held,
        opened.sip_password,
        realm,
        server,
    )))
}

/// The address of record the registrar files a number's bindings under
/// (`switch::registrar`: `sip:{key}@{realm}`).
pub fn aor(key: &str, realm: &str) -> String {
    format!("sip:{key}@{realm}")
}

// ---------------------------------------------------------------- bodies

/// A profile just issued. The password and the link are in this response
/// only.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedProfileView {
    #[schema(example = "02-6200-6200-082")]
    pub number: String,
    /// The SIP username and authentication user: the number's store key.
    #[schema(example = "0262006200082")]
    pub sip_username: String,
    /// The new SIP password; the previous one no longer works.
    pub sip_password: String,
    pub sip_realm: String,
    #[schema(example = "sip:0262006200082@sip.example.net")]
    pub sip_address: String,
    /// The host phones register with.
    pub server: String,
    pub endpoints: Vec<EndpointView>,
    /// The profile's link (the card as text); add `.xml` for Linphone's
    /// document, `?format=baresip` for a baresip account line.
    #[schema(example = "https://callex.example.net/p/cxp_…")]
    pub link: String,
    /// What a Linphone app opens to import the profile.
    #[schema(example = "linphone-config:https://callex.example.net/p/cxp_….xml")]
    pub linphone_uri: String,
    /// The link stops working then: milliseconds since the Unix epoch, UTC.
    pub expires_at: i64,
}

/// A port phones register on.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub transport: SipTransport,
    #[schema(example = 5060)]
    pub port: u16,
}

/// A terminal registered with one of a member's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// The Contact the terminal registered.
    #[schema(example = "sip:0262006200082@192.0.2.10:5062;transport=udp")]
    pub contact: String,
    /// What the REGISTER came over: `udp` or `tcp`.
    #[schema(example = "udp")]
    pub transport: String,
    /// Where it came from.
    #[schema(example = "192.0.2.10:5062")]
    pub source: String,
    /// The terminal's User-Agent.
    #[schema(example = "baresip v1.0.0 (x86_64/linux)")]
    pub user_agent: String,
    /// The binding ends then unless renewed: milliseconds since the Unix
    /// epoch, UTC.
    pub expires_at: i64,
    /// The last REGISTER: milliseconds since the Unix epoch, UTC.
    pub updated_at: i64,
    /// RFC 5626 `+sip.instance`, if the terminal sent one.
    pub instance_id: Option<String>,
}

impl From<Binding> for DeviceView {
    fn from(binding: Binding) -> DeviceView {
        let (transport, source) = binding
            .received
            .split_once(':')
            .map_or((String::new(), binding.received.clone()), |(t, s)| {
                (t.to_ascii_lowercase(), s.to_owned())
            });
        DeviceView {
            contact: binding.contact,
            transport,
            source,
            user_agent: binding.user_agent,
            expires_at: binding.expires_at,
            updated_at: binding.updated_at,
            instance_id: binding.instance_id,
        }
    }
}

/// Which format `/p/{token}` serves, when its extension does not say.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    /// `text` (the card), `linphone` (XML) or `baresip` (an account line).
    pub format: Option<String>,
}

// ---------------------------------------------------------------- handlers

/// `scheme://host` the request was sent to, if its Host header is usable:
/// https when a proxy in front says so (`X-Forwarded-Proto`).
pub(crate) fn base_url(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let usable = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !usable {
        return None;
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    Some(format!("{}://{host}", if https { "https" } else { "http" }))
}

/// [`issue_profile`] for a request that came with `headers`: the server
/// named as the request reached us, and the profile's link on this host.
pub(crate) async fn issue_for_request(
    state: &AppState,
    headers: &HeaderMap,
    member: MemberId,
    written: &str,
    now: UnixMillis,
) -> Result<(IssuedProfile, String), StoreError> {
    let server = state
        .provisioning
        .server(request_host(headers), &state.realm);
    let issued = issue_profile(&state.store, &state.realm, server, member, written, now).await?;
    let link = format!(
        "{}/p/{}",
        base_url(headers).unwrap_or_default(),
        issued.token
    );
    Ok((issued, link))
}

pub(crate) fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST)?.to_str().ok()
}

/// Issues the SIP account of one of the member's numbers as a profile:
/// a new SIP password (the previous one stops working at once) and a link
/// a softphone imports it from, for 24 hours. The password and the link
/// are in this response only; a new profile replaces the number's
/// previous link.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/numbers/{number}/profile", tag = "members",
    params(
        ("id" = i64, Path, description = "The member's id"),
        ("number" = String, Path, description = "One of the member's numbers, written any way"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 201, body = IssuedProfileView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not a number"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such member, or not a number of theirs"),
    )
)]
pub async fn create_profile(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiPath((id, written)): ApiPath<(i64, String)>,
) -> Result<(StatusCode, Json<IssuedProfileView>), ApiError> {
    let member = crate::accounts::visible_member(&state, &caller, id).await?;
    let (issued, link) =
        issue_for_request(&state, &headers, member.id, &written, store::now_millis()).await?;
    let profile = issued.profile;
    Ok((
        StatusCode::CREATED,
        Json(IssuedProfileView {
            sip_address: profile.sip_address(),
            number: profile.number,
            sip_username: profile.username,
            sip_password: profile.password,
            sip_realm: profile.realm,
            server: profile.server.host,
            endpoints: profile
                .server
                .endpoints
                .into_iter()
                .map(|(transport, port)| EndpointView { transport, port })
                .collect(),
            linphone_uri: linphone_import_uri(&format!("{link}.xml")),
            link,
            expires_at: issued.expires_at,
        }),
    ))
}

/// The terminals registered with one of the member's numbers now: each
/// binding's contact, where it registered from, its user agent and when
/// it expires.
#[utoipa::path(
    get, path = "/api/v1/members/{id}/numbers/{number}/devices", tag = "members",
    params(
        ("id" = i64, Path, description = "The member's id"),
        ("number" = String, Path, description = "One of the member's numbers, written any way"),
    ),
    security(("operator_token" = [])),
    responses(
        (status = 200, body = [DeviceView]),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Not a number"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such member, or not a number of theirs"),
    )
)]
pub async fn devices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((id, written)): ApiPath<(i64, String)>,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let member = crate::accounts::visible_member(&state, &caller, id).await?;
    let held = members_number(&state.store, member.id, &written).await?;
    let bindings = state
        .store
        .bindings(&aor(&held.number, &state.realm), store::now_millis())
        .await?;
    Ok(Json(bindings.into_iter().map(DeviceView::from).collect()))
}

/// A profile's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileFormat {
    Text,
    Linphone,
    Baresip,
}

impl ProfileFormat {
    fn named(name: &str) -> Option<ProfileFormat> {
        match name {
            "text" | "txt" => Some(ProfileFormat::Text),
            "linphone" | "xml" => Some(ProfileFormat::Linphone),
            "baresip" => Some(ProfileFormat::Baresip),
            _ => None,
        }
    }
}

/// The token and the format a `/p/…` segment and its query ask for.
fn link_request(segment: &str, query: Option<&str>) -> Result<(String, ProfileFormat), String> {
    let (token, by_extension) = match segment.rsplit_once('.') {
        Some((token, extension)) => (
            token,
            Some(
                ProfileFormat::named(extension)
                    .ok_or_else(|| "a profile link ends in .txt or .xml, or nothing".to_owned())?,
            ),
        ),
        None => (segment, None),
    };
    let by_query = query
        .map(|name| {
            ProfileFormat::named(name)
                .ok_or_else(|| "format is one of text, linphone, baresip".to_owned())
        })
        .transpose()?;
    let format = match (by_extension, by_query) {
        (Some(a), Some(b)) if a != b => {
            return Err("the extension and ?format= ask for different formats".to_owned())
        }
        (a, b) => a.or(b).unwrap_or(ProfileFormat::Text),
    };
    Ok((token.to_owned(), format))
}

/// The profile behind a link: the card as text (`/p/TOKEN`,
/// `/p/TOKEN.txt`), Linphone's provisioning XML (`/p/TOKEN.xml`,
/// `?format=linphone`) or a baresip account line (`?format=baresip`).
/// Public: the token is the key. An unknown or expired link is the same
/// 404.
#[utoipa::path(
    get, path = "/p/{token}", tag = "members",
    params(
        ("token" = String, Path, description = "The link's token, with `.txt` or `.xml` if wanted"),
        LinkQuery,
    ),
    responses(
        (status = 200, description = "The profile", content_type = "text/plain"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "An unknown format"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such link, or it expired"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The profile cannot be written in that format"),
    )
)]
pub async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad_request = |detail: String| no_store(problem(StatusCode::BAD_REQUEST, detail));
    let Ok(Path(segment)) = path else {
        return bad_request("this link names no profile".to_owned());
    };
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => return bad_request(rejection.body_text()),
    };
    let (token, format) = match link_request(&segment, query.format.as_deref()) {
        Ok(request) => request,
        Err(detail) => return bad_request(detail),
    };
    let server = state
        .provisioning
        .server(request_host(&headers), &state.realm);
    let opened = open_profile(
        &state.store,
        &state.realm,
        server,
        &token,
        store::now_millis(),
    )
    .await;
    let profile = match opened {
        Ok(Some(profile)) => profile,
        Ok(None) => {
            return no_store(problem(
                StatusCode::NOT_FOUND,
                "there is no current profile at this link; ask for a new one".to_owned(),
            ))
        }
        Err(err) => return no_store(ApiError::from(err).into_response()),
    };
    let (content_type, body) = match format {
        ProfileFormat::Text => ("text/plain; charset=utf-8", card(&profile)),
        ProfileFormat::Linphone => ("application/xml", linphone_xml(&profile)),
        ProfileFormat::Baresip => match baresip_account(&profile) {
            Ok(line) => ("text/plain; charset=utf-8", line),
            Err(why) => {
                return no_store(problem(StatusCode::UNPROCESSABLE_ENTITY, why.to_string()))
            }
        },
    };
    no_store(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
    )
}

/// A profile holds a password: no cache may keep it.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn profile(password: &str, host: &str) -> Profile {
        Profile {
            number: "02-6200-6200-082".into(),
            username: "0262006200082".into(),
            password: password.into(),
            realm: "callex".into(),
            server: SipServer {
                host: host.into(),
                endpoints: vec![(SipTransport::Udp, 5060), (SipTransport::Tcp, 5070)],
            },
        }
    }

    #[test]
    fn the_linphone_document_names_the_account_and_escapes_every_value() {
        let xml = linphone_xml(&profile("Abc123xyz", "sip.example.net"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config xmlns=\"http://www.linphone.org/xsds/lpconfig.xsd\""));
        for expected in [
            "<section name=\"proxy_0\">",
            "<entry name=\"reg_identity\" overwrite=\"true\">sip:0262006200082@sip.example.net</entry>",
            "<entry name=\"reg_proxy\" overwrite=\"true\">&lt;sip:sip.example.net:5060;transport=udp&gt;</entry>",
            "<section name=\"auth_info_0\">",
            "<entry name=\"username\" overwrite=\"true\">0262006200082</entry>",
            "<entry name=\"passwd\" overwrite=\"true\">Abc123xyz</entry>",
            "<entry name=\"realm\" overwrite=\"true\">callex</entry>",
            "<entry name=\"domain\" overwrite=\"true\">sip.example.net</entry>",
        ] {
            assert!(xml.contains(expected), "{expected} in\n{xml}");
        }
        let hostile = linphone_xml(&profile("</entry><entry name=\"x\">&'\u{1}", "h\"ost<>"));
        assert!(hostile.contains(
            "<entry name=\"passwd\" overwrite=\"true\">&lt;/entry&gt;&lt;entry name=&quot;x&quot;&gt;&amp;&apos;\u{FFFD}</entry>"
        ), "{hostile}");
        assert!(hostile.contains("h&quot;ost&lt;&gt;"), "{hostile}");
        assert_eq!(
            hostile.matches("<entry ").count(),
            xml.matches("<entry ").count()
        );
        assert_eq!(
            linphone_import_uri("https://x.example/p/cxp_1.xml"),
            "linphone-config:https://x.example/p/cxp_1.xml"
        );
    }

    #[test]
    fn the_baresip_line_registers_over_the_preferred_transport_or_is_refused() {
        assert_eq!(
            baresip_account(&profile("Abc123xyz", "192.0.2.7")).unwrap(),
            "<sip:0262006200082@192.0.2.7:5060;transport=udp>;auth_user=0262006200082;\
             auth_pass=Abc123xyz;regint=600\n"
        );
        assert_eq!(
            baresip_account(&profile("Abc123xyz", "2001:db8::1")).unwrap(),
            "<sip:0262006200082@[2001:db8::1]:5060;transport=udp>;auth_user=0262006200082;\
             auth_pass=Abc123xyz;regint=600\n"
        );
        for password in ["a;b=c", "a>b", "a b", "a\nb", "a,b", "a\"b", ""] {
            assert!(
                baresip_account(&profile(password, "192.0.2.7")).is_err(),
                "{password:?}"
            );
        }
        assert!(baresip_account(&profile("ok", "evil>;x=1")).is_err());
    }

    #[test]
    fn the_card_lists_the_account_and_every_port_and_shows_controls_escaped() {
        let text = card(&profile("Abc123xyz", "sip.example.net"));
        for expected in [
            "Number:           02-6200-6200-082\n",
            "SIP address:      sip:0262006200082@sip.example.net\n",
            "Password:         Abc123xyz\n",
            "                  UDP port 5060\n",
            "                  TCP port 5070\n",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        let hostile = card(&profile("a\u{1b}[2Jb\nc", "sip.example.net"));
        assert!(hostile.contains("a\\u{1b}[2Jb\\nc"), "{hostile}");
    }

    #[test]
    fn the_server_is_the_advertised_host_else_a_listener_else_the_request_s_host() {
        let listeners = |ip: &str| {
            vec![
                (SipTransport::Tcp, format!("{ip}:5070").parse().unwrap()),
                (SipTransport::Udp, format!("{ip}:5060").parse().unwrap()),
            ]
        };
        let advertised = ProvisioningTarget {
            host: Some("sip.example.net".into()),
            listeners: listeners("0.0.0.0"),
        };
        let server = advertised.server(Some("api.example.net:8080"), "callex");
        assert_eq!(server.host, "sip.example.net");
        assert_eq!(
            server.endpoints,
            vec![(SipTransport::Udp, 5060), (SipTransport::Tcp, 5070)]
        );
        let bound = ProvisioningTarget {
            host: None,
            listeners: listeners("192.0.2.7"),
        };
        assert_eq!(
            bound.server(Some("api.example.net"), "callex").host,
            "192.0.2.7"
        );
        let any = ProvisioningTarget {
            host: None,
            listeners: listeners("0.0.0.0"),
        };
        assert_eq!(
            any.server(Some("api.example.net:8080"), "callex").host,
            "api.example.net"
        );
        assert_eq!(
            any.server(Some("[2001:db8::1]:8080"), "callex").host,
            "2001:db8::1"
        );
        assert_eq!(any.server(Some("bad host<>"), "callex").host, "callex");
        let default = ProvisioningTarget::default().server(None, "sip.example.org");
        assert_eq!(default.host, "sip.example.org");
        assert_eq!(
            default.endpoints,
            vec![(SipTransport::Udp, 5060), (SipTransport::Tcp, 5060)]
        );
    }

    #[test]
    fn a_link_s_format_comes_from_its_extension_or_its_query() {
        let token = "cxp_ab";
        for (segment, query, expected) in [
            (token, None, ProfileFormat::Text),
            ("cxp_ab.txt", None, ProfileFormat::Text),
            ("cxp_ab.xml", None, ProfileFormat::Linphone),
            (token, Some("linphone"), ProfileFormat::Linphone),
            (token, Some("baresip"), ProfileFormat::Baresip),
            ("cxp_ab.xml", Some("linphone"), ProfileFormat::Linphone),
        ] {
            assert_eq!(
                link_request(segment, query),
                Ok((token.to_owned(), expected)),
                "{segment} {query:?}"
            );
        }
        for (segment, query) in [
            ("cxp_ab.exe", None),
            (token, Some("json")),
            ("cxp_ab.xml", Some("baresip")),
        ] {
            assert!(link_request(segment, query).is_err(), "{segment} {query:?}");
        }
    }

    #[test]
    fn an_ipv6_host_is_bracketed_in_uris() {
        let v6 = profile("Abc123xyz", &Ipv6Addr::LOCALHOST.to_string());
        assert_eq!(v6.sip_address(), "sip:0262006200082@[::1]");
    }
}
