//! SIPp, the load and conformance tool of the SIP world, against the
//! `callex` binary: a monitor's OPTIONS probes over UDP all get `200 OK`
//! from Callex.
//!
//! Needs `sipp` on the PATH (Debian/Ubuntu: `apt-get install -y
//! sip-tester`). Without it this test fails rather than skips, so a green
//! run always means SIPp talked to Callex.

mod common;

use std::process::{Command, Stdio};

use common::*;

const PROBES: u32 = 20;

fn sipp() -> &'static str {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match found {
        Ok(_) => "sipp",
        Err(e) => panic!(
            "sipp is not installed ({e}): install it with `apt-get install -y sip-tester` \
             (Debian/Ubuntu) — this test runs SIPp against callex and does not skip"
        ),
    }
}

#[test]
fn sipp_options_probes_over_udp_all_get_200() {
    let sipp = sipp();
    let data_dir = scratch_dir("sipp");
    let mut command = callex();
    command
        .args(["serve", "--sip-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir);
    let running = Running::start(command);

    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/options.xml");
    // SIPp writes its logs to the working directory.
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut probe = Command::new(sipp)
        .arg(running.udp.to_string())
        .args(["-sf", scenario])
        .args(["-t", "u1", "-i", "127.0.0.1"])
        .args(["-m", &PROBES.to_string(), "-r", "20", "-l", "10"])
        .args(["-recv_timeout", "5000", "-timeout", "15", "-timeout_error"])
        .args(["-nostdin", "-trace_err"])
        .current_dir(&data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sipp");
    let status = wait_bounded(&mut probe).unwrap_or_else(|| {
        let _ = probe.kill();
        panic!("sipp did not finish");
    });
    let errors: String = std::fs::read_dir(&data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert_eq!(
        status.code(),
        Some(0),
        "every SIPp probe succeeds (exit 0); SIPp errors:\n{errors}"
    );

    let (status, stderr) = running.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
