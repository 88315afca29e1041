//! The `callex` binary as an operator meets it: version, start, where it
//! listens, a clear error for a taken port, and a clean stop on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::*;
use sip::HeaderName;

#[test]
fn version_prints_the_name_and_the_version() {
    let out = callex().arg("--version").output().expect("run callex");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        concat!("callex ", env!("CARGO_PKG_VERSION"), "\n")
    );
}

#[test]
fn serve_help_names_the_flags_and_their_environment_variables() {
    let out = callex()
        .args(["serve", "--help"])
        .output()
        .expect("run callex");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "--sip-listen",
        "CALLEX_SIP_LISTEN",
        "0.0.0.0:5060",
        "--data-dir",
        "CALLEX_DATA_DIR",
        "./callex-data",
        "created if missing",
        "--log",
        "RUST_LOG",
        "--log-format",
    ] {
        assert!(help.contains(expected), "{expected} in\n{help}");
    }
}

#[test]
fn serve_answers_options_on_udp_and_tcp_and_exits_0_on_sigterm() {
    let data_dir = scratch_dir("serve");
    let mut command = callex();
    command
        .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir);
    let running = Running::start(command);
    assert!(data_dir.is_dir(), "the data directory is created");
    assert!(running
        .stdout
        .iter()
        .any(|l| l.contains(&*data_dir.to_string_lossy())));
    assert_eq!(running.udp.port(), running.tcp.port());

    let ok = options_over_udp(running.udp);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header(HeaderName::Server),
        Some(concat!("Callex/", env!("CARGO_PKG_VERSION")))
    );

    let mut tcp = TcpStream::connect(running.tcp).expect("connect over TCP");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    tcp.read_exact(&mut pong).expect("a keep-alive answer");
    assert_eq!(&pong, b"\r\n");

    let (status, stderr) = running.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 on SIGTERM; stderr:\n{stderr}"
    );
    assert!(stderr.contains("stopping"), "says it stops:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn serve_takes_its_settings_from_the_environment() {
    let data_dir = scratch_dir("env");
    let mut command = callex();
    command
        .arg("serve")
        .env("CALLEX_SIP_LISTEN", "127.0.0.1:0,127.0.0.1:0")
        .env("CALLEX_DATA_DIR", &data_dir)
        .env("RUST_LOG", "debug");
    let running = Running::start(command);
    assert!(data_dir.is_dir());
    let sockets = running
        .stdout
        .iter()
        .filter(|l| l.starts_with("listening:"))
        .count();
    assert!(sockets >= 2, "{:?}", running.stdout);
    assert_eq!(options_over_udp(running.udp).status(), Some(200));
    let (status, stderr) = running.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("DEBUG"), "RUST_LOG=debug is honoured");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let data_dir = scratch_dir("json");
    let mut command = callex();
    command
        .args([
            "--log-format",
            "json",
            "serve",
            "--sip-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data_dir);
    let running = Running::start(command);
    let (status, stderr) = running.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(line.starts_with('{') && line.ends_with('}'), "JSON: {line}");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_taken_port_is_a_clear_error_and_exit_1() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("take a port");
    let addr = taken.local_addr().unwrap();
    let data_dir = scratch_dir("taken");
    let mut child = callex()
        .arg("serve")
        .env("CALLEX_SIP_LISTEN", addr.to_string())
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run callex");
    let status = wait_bounded(&mut child).expect("callex gives up at once");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let expected =
        format!("cannot bind UDP {addr}: Address in use — choose another with --sip-listen");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_listen_address_that_is_not_an_address_is_refused_by_the_command_line() {
    let out = callex()
        .args(["serve", "--sip-listen", "exchange.example.net"])
        .output()
        .expect("run callex");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--sip-listen"), "{stderr}");
}
