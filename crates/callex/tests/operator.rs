//! The operator's first steps with the built binary: members, numbers and
//! their SIP passwords, tokens, the configuration file and its precedence,
//! and the HTTP API beside SIP in `callex serve`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::*;
use sip::digest::{ha1, Algorithm};
use store::prelude::*;

fn add_member(data_dir: &Path, name: &str) -> String {
    let out = succeeded(run(
        data_dir,
        &["member", "add", "--name", name, "--country", "KR"],
    ));
    let id = out.trim().to_owned();
    assert!(
        id.parse::<i64>().is_ok(),
        "member add prints the id: {out:?}"
    );
    id
}

/// The value after `label` on its own line of `out`.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("{label:?} in {out:?}"))
}

fn stored_ha1(data_dir: &Path, username: &str, algorithm: Algorithm) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = Store::open(data_dir.to_str().expect("UTF-8"))
            .await
            .expect("open the store");
        let ha1 = store
            .ha1(username, switch::DEFAULT_REALM, algorithm)
            .await
            .expect("read the HA1");
        store.close().await;
        ha1
    })
}

fn assert_password_is_stored(data_dir: &Path, username: &str, password: &str) {
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        assert_eq!(
            stored_ha1(data_dir, username, algorithm),
            Some(ha1(algorithm, username, switch::DEFAULT_REALM, password)),
            "{algorithm:?}"
        );
    }
}

#[test]
fn a_member_added_shows_in_the_list() {
    let data_dir = scratch_dir("member-list");
    let empty = succeeded(run(&data_dir, &["member", "list"]));
    assert!(empty.contains("no members yet"), "{empty}");
    let alice = add_member(&data_dir, "Alice Kim");
    let acme = succeeded(run(
        &data_dir,
        &[
            "member",
            "add",
            "--name",
            "Acme",
            "--email",
            "ops@acme.example",
            "--country",
            "us",
            "--company",
        ],
    ));
    let list = succeeded(run(&data_dir, &["member", "list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("ID"), "{list}");
    assert!(
        lines[1].starts_with(&alice) && lines[1].contains("Alice Kim"),
        "{list}"
    );
    assert!(
        lines[1].contains("individual") && lines[1].contains("KR"),
        "{list}"
    );
    assert!(lines[2].starts_with(acme.trim()), "{list}");
    assert!(
        lines[2].contains("company") && lines[2].contains("ops@acme.example"),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_refused_member_is_the_stores_message_and_exit_1() {
    let data_dir = scratch_dir("member-bad");
    let out = run(
        &data_dir,
        &["member", "add", "--name", "Bob", "--country", "Korea"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid country"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn number_grant_prints_a_password_whose_ha1s_are_stored_for_both_algorithms() {
    let data_dir = scratch_dir("grant");
    let alice = add_member(&data_dir, "Alice");
    let out = succeeded(run(
        &data_dir,
        &["number", "grant", "02-6200-6200-082", "--member", &alice],
    ));
    assert!(
        out.contains("number 0262006200082 granted to member"),
        "{out}"
    );
    assert_eq!(field(&out, "SIP username: "), "0262006200082");
    let password = field(&out, "SIP password: ");
    assert!(password.len() >= 20, "a strong password: {password:?}");
    assert_password_is_stored(&data_dir, "0262006200082", password);
    let list = succeeded(run(&data_dir, &["member", "list"]));
    assert!(
        list.contains("0262006200082"),
        "the list shows the number:\n{list}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn granting_a_held_number_is_the_stores_message_and_exit_1() {
    let data_dir = scratch_dir("grant-held");
    let alice = add_member(&data_dir, "Alice");
    let bob = add_member(&data_dir, "Bob");
    succeeded(run(
        &data_dir,
        &["number", "grant", "+44 20 7946 0000", "--member", &alice],
    ));
    let out = run(
        &data_dir,
        &["number", "grant", "+44-20-7946-0000", "--member", &bob],
    );
    assert_eq!(out.status.code(), Some(1));
    let expected = format!("number +442079460000 is held by member {alice}");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(!stdout(&out).contains("SIP password"), "{}", stdout(&out));
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_number_that_is_not_digits_is_refused_with_exit_1() {
    let data_dir = scratch_dir("grant-text");
    let alice = add_member(&data_dir, "Alice");
    for bad in ["02-62OO-6200", "4420#1", "++4420", "+82 1", "123"] {
        let out = run(&data_dir, &["number", "grant", bad, "--member", &alice]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stderr(&out).contains("invalid number"), "{}", stderr(&out));
    }
    let not_e164 = run(
        &data_dir,
        &[
            "number", "grant", "4420", "--kind", "e164", "--member", &alice,
        ],
    );
    assert_eq!(not_e164.status.code(), Some(1));
    assert!(
        stderr(&not_e164).contains("is not an E.164 number"),
        "{}",
        stderr(&not_e164)
    );
    let unknown = run(
        &data_dir,
        &["number", "grant", "+44 20 7946 0000", "--member", "999"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("member 999 does not exist"),
        "{}",
        stderr(&unknown)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn number_password_replaces_the_ha1s_and_a_given_password_is_not_printed() {
    let data_dir = scratch_dir("reset");
    let alice = add_member(&data_dir, "Alice");
    succeeded(run(
        &data_dir,
        &[
            "number",
            "grant",
            "+44 20 7946 0000",
            "--member",
            &alice,
            "--sip-password",
            "first-password",
        ],
    ));
    assert_password_is_stored(&data_dir, "+442079460000", "first-password");

    let out = succeeded(run(&data_dir, &["number", "password", "+442079460000"]));
    let generated = field(&out, "SIP password: ");
    assert_ne!(generated, "first-password");
    assert_password_is_stored(&data_dir, "+442079460000", generated);

    let out = succeeded(run(
        &data_dir,
        &[
            "number",
            "password",
            "+44-20-7946-0000",
            "--sip-password",
            "second-password",
        ],
    ));
    assert!(!out.contains("second-password"), "{out}");
    assert_password_is_stored(&data_dir, "+442079460000", "second-password");

    let nobody = run(&data_dir, &["number", "password", "5555"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(
        stderr(&nobody).contains("nobody holds number 5555"),
        "{}",
        stderr(&nobody)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn any_written_form_is_granted_under_its_store_key_which_is_the_sip_username() {
    let data_dir = scratch_dir("grant-forms");
    let acme = add_member(&data_dir, "Acme");
    for (written, key) in [
        ("(02) 6200.6200 082", "0262006200082"),
        ("6200-6200%23082", "62006200#082"),
        ("+44 20 7946 0000", "+442079460000"),
    ] {
        let out = succeeded(run(
            &data_dir,
            &[
                "number",
                "grant",
                written,
                "--member",
                &acme,
                "--sip-password",
                "acme-password",
            ],
        ));
        assert_eq!(field(&out, "SIP username: "), key, "{written:?}");
        assert_password_is_stored(&data_dir, key, "acme-password");
    }
    let list = succeeded(run(&data_dir, &["member", "list"]));
    assert!(
        list.contains("+442079460000 0262006200082 62006200#082"),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_password_reset_finds_the_held_reading_of_the_number() {
    let data_dir = scratch_dir("reset-reading");
    let acme = add_member(&data_dir, "Acme");
    // Held as a bare company number; first read as a PIN.
    succeeded(run(
        &data_dir,
        &[
            "number",
            "grant",
            "0262006200082",
            "--kind",
            "vns",
            "--member",
            &acme,
        ],
    ));
    let out = succeeded(run(
        &data_dir,
        &[
            "number",
            "password",
            "02-6200-6200-082",
            "--sip-password",
            "company-password",
        ],
    ));
    assert_eq!(field(&out, "SIP username: "), "0262006200082");
    assert_password_is_stored(&data_dir, "0262006200082", "company-password");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn number_profile_prints_the_card_and_the_link_and_replaces_the_password() {
    let data_dir = scratch_dir("profile");
    let alice = add_member(&data_dir, "Alice");
    let granted = succeeded(run(
        &data_dir,
        &["number", "grant", "02-6200-6200-082", "--member", &alice],
    ));
    let old_password = field(&granted, "SIP password: ").to_owned();
    let out = succeeded(run(
        &data_dir,
        &[
            "number",
            "profile",
            "0262006200082",
            "--sip-advertise",
            "sip.example.net",
        ],
    ));
    assert!(
        out.contains(&format!(
            "provisioning profile of number 02-6200-6200-082 for member {alice}"
        )),
        "{out}"
    );
    assert_eq!(field(&out, "Server:"), "           sip.example.net");
    assert_eq!(
        field(&out, "SIP address:").trim(),
        "sip:0262006200082@sip.example.net"
    );
    let password = field(&out, "Password:").trim();
    assert_ne!(password, old_password);
    assert_password_is_stored(&data_dir, "0262006200082", password);
    assert!(out.contains("                  UDP port 5060\n"), "{out}");
    let link = field(&out, "link (until ");
    let url = link.split(" UTC): ").nth(1).expect("the link's URL");
    assert!(url.starts_with("http://127.0.0.1:8080/p/cxp_"), "{url}");
    assert_eq!(
        field(&out, "Linphone: "),
        format!("linphone-config:{url}.xml")
    );

    let nobody_s = run(&data_dir, &["number", "profile", "02-6200-6200-083"]);
    assert_eq!(nobody_s.status.code(), Some(1));
    assert!(
        stderr(&nobody_s).contains("nobody holds number"),
        "{}",
        stderr(&nobody_s)
    );
    assert_password_is_stored(&data_dir, "0262006200082", password);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn dial_explains_what_a_dial_string_reaches_or_the_refusal_the_caller_hears() {
    let data_dir = scratch_dir("dial");
    let alice = add_member(&data_dir, "Alice");
    let acme = add_member(&data_dir, "Acme");
    for (number, member) in [("02-6200-6200-082", &alice), ("6200-6200#082", &acme)] {
        succeeded(run(
            &data_dir,
            &["number", "grant", number, "--member", member],
        ));
    }
    let dial = |dialled: &str| run(&data_dir, &["dial", dialled, "--from", "02-6200-6200-082"]);

    let company = succeeded(dial("6200-6200#082"));
    assert_eq!(
        field(&company, "read as: "),
        "a company number (#) → company 6200-6200#082"
    );
    assert_eq!(
        field(&company, "rings: "),
        "the phones registered as 62006200#082"
    );
    // The bare company number reaches the branch in the caller's country.
    let bare = succeeded(dial("6200 6200"));
    assert_eq!(
        field(&bare, "read as: "),
        "a company's number, its branch in the caller's country → company 6200-6200#082"
    );
    let national = succeeded(dial("010-1234-5678"));
    assert_eq!(
        field(&national, "read as: "),
        "a national number of KR (trunk prefix) → +82 10-1234-5678 (PSTN)"
    );

    for (dialled, heard) in [
        (
            "010",
            "the caller hears 484 the national part of this number has 2 digits",
        ),
        (
            "6200-6200#001",
            "the caller hears 404 6200-6200#001 is not in service",
        ),
        (
            "02-62OO",
            "the caller hears 404 'O' at position 6 is not part of a number",
        ),
    ] {
        let out = dial(dialled);
        assert_eq!(out.status.code(), Some(1), "{dialled}");
        assert!(stderr(&out).contains(heard), "{dialled}: {}", stderr(&out));
    }
    let stranger = run(
        &data_dir,
        &["dial", "010-1234-5678", "--from", "+44 20 7946 0000"],
    );
    assert_eq!(stranger.status.code(), Some(1));
    assert!(
        stderr(&stranger).contains("nobody holds number"),
        "{}",
        stderr(&stranger)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn token_create_prints_a_token_once_and_a_taken_name_is_exit_1() {
    let data_dir = scratch_dir("token");
    let token = succeeded(run(&data_dir, &["token", "create", "billing"]));
    assert!(token.trim().starts_with("cxt_"), "{token}");
    let again = run(&data_dir, &["token", "create", "billing"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn flags_override_the_environment_which_overrides_the_configuration_file() {
    let root = scratch_dir("precedence");
    std::fs::create_dir_all(&root).unwrap();
    let (from_file, from_env, from_flag) = (root.join("file"), root.join("env"), root.join("flag"));
    let config = root.join("callex.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nrealm = \"file.example\"\n",
            from_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let add = |env_dir: Option<&Path>, flag_dir: Option<&Path>| {
        let mut command = callex();
        command
            .args([
                "member",
                "add",
                "--name",
                "X",
                "--country",
                "KR",
                "--config",
            ])
            .arg(&config);
        if let Some(dir) = env_dir {
            command.env("CALLEX_DATA_DIR", dir);
        }
        if let Some(dir) = flag_dir {
            command.arg("--data-dir").arg(dir);
        }
        succeeded(command.output().expect("run callex"))
    };
    add(None, None);
    assert!(from_file.join("callex.db").is_file(), "the file's data_dir");
    add(Some(&from_env), None);
    assert!(
        from_env.join("callex.db").is_file(),
        "the environment over the file"
    );
    add(Some(&from_env), Some(&from_flag));
    assert!(
        from_flag.join("callex.db").is_file(),
        "the flag over the environment"
    );

    // The file's realm is the one the HA1s are computed in.
    let member = add(None, None);
    let out = succeeded(
        callex()
            .args([
                "number",
                "grant",
                "+44 20 7946 0000",
                "--member",
                member.trim(),
                "--config",
            ])
            .arg(&config)
            .output()
            .expect("run callex"),
    );
    assert_eq!(field(&out, "SIP realm: "), "file.example");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_broken_or_unknown_setting_in_the_configuration_file_names_its_line_and_exits_1() {
    let root = scratch_dir("bad-config");
    std::fs::create_dir_all(&root).unwrap();
    for (text, expected) in [
        ("realm = \"x\"\nhttp_port = 80\n", "http_port"),
        ("realm = \"x\"\nnode = \n", "line 2"),
    ] {
        let config = root.join("callex.toml");
        std::fs::write(&config, text).unwrap();
        for command in [&["member", "list"][..], &["serve"][..]] {
            let out = callex()
                .args(command)
                .arg("--config")
                .arg(&config)
                .output()
                .expect("run callex");
            assert_eq!(out.status.code(), Some(1), "{command:?}");
            let err = stderr(&out);
            assert!(err.contains("callex.toml"), "{err}");
            assert!(err.contains("line 2") && err.contains(expected), "{err}");
        }
    }
    let missing = callex()
        .args(["member", "list", "--config", "/nonexistent/callex.toml"])
        .output()
        .expect("run callex");
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&root);
}

/// One HTTP/1.1 request on a fresh connection; the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn serve_prints_an_operator_token_once_and_the_api_takes_it() {
    let data_dir = scratch_dir("serve-token");
    let start = || {
        let mut command = callex();
        command
            .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir);
        Running::start(command)
    };
    let running = start();
    let token = running.token.clone().expect("a token on the first start");
    assert!(token.starts_with("cxt_"), "{token}");
    assert!(running
        .stdout
        .iter()
        .any(|l| l.ends_with("keep it: it is not shown again")));
    assert_eq!(http(running.http, "GET", "/healthz", None).0, 200);
    assert_eq!(http(running.http, "GET", "/api/v1/members", None).0, 401);
    let (status, body) = http(running.http, "GET", "/api/v1/members", Some(&token));
    assert_eq!(status, 200, "{body}");
    let (status, stderr) = running.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");

    let again = start();
    assert_eq!(again.token, None, "the token is shown only once");
    assert_eq!(
        http(again.http, "GET", "/api/v1/members", Some(&token)).0,
        200
    );
    let (status, stderr) = again.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn serve_installs_the_admin_token_it_is_given() {
    let data_dir = scratch_dir("serve-admin");
    let mut command = callex();
    command
        .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env("CALLEX_ADMIN_TOKEN", "operator-chosen-token-0001");
    let running = Running::start(command);
    assert_eq!(running.token, None, "nothing to print");
    let (status, body) = http(
        running.http,
        "GET",
        "/api/v1/members",
        Some("operator-chosen-token-0001"),
    );
    assert_eq!(status, 200, "{body}");
    let (status, stderr) = running.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_taken_http_port_is_a_clear_error_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("take a port");
    let addr = taken.local_addr().unwrap();
    let data_dir = scratch_dir("http-taken");
    let mut child = callex()
        .args([
            "serve",
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            &addr.to_string(),
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run callex");
    let status = wait_bounded(&mut child);
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("callex's output");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", stderr(&out));
    let expected = format!(
        "cannot listen for HTTP on {addr}: Address in use — choose another with --http-listen"
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `callex member add ... --password-stdin` with `password` typed in.
fn add_with_password(data_dir: &Path, extra: &[&str], password: &str) -> std::process::Output {
    let mut child = callex()
        .args(["member", "add", "--name", "Ops", "--country", "KR"])
        .args(extra)
        .arg("--password-stdin")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run callex");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("type the password");
    drop(stdin);
    child.wait_with_output().expect("callex ends")
}

#[test]
fn an_operator_account_for_the_portal_is_added_with_its_password() {
    let dir = scratch_dir("operator-account");
    let refused = add_with_password(&dir, &["--email", "ops@example.net", "--operator"], "short");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("10 to 1024 characters"),
        "{}",
        stderr(&refused)
    );

    let id = succeeded(add_with_password(
        &dir,
        &["--email", "ops@example.net", "--operator"],
        "operator's long passphrase",
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = Store::open(dir.to_str().unwrap()).await.unwrap();
        let members = store.members(Page::first(10)).await.unwrap();
        // The refused one added nothing.
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].id.to_string(), id.trim());
        assert_eq!(members[0].role, store::Role::Operator);
        let phc = store.password_hash(members[0].id).await.unwrap().unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        store.close().await;
    });

    // A new password through `member password`, by e-mail.
    let mut child = callex()
        .args(["member", "password", "OPS@example.net", "--data-dir"])
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run callex");
    writeln!(child.stdin.take().unwrap(), "another long passphrase").unwrap();
    let out = succeeded(child.wait_with_output().unwrap());
    assert!(out.contains("has a new portal password"), "{out}");
    let unknown = run(&dir, &["member", "password", "nobody@example.net"]);
    assert!(!unknown.status.success());
}
