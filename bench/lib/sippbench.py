"""Shared code of the side-by-side SIPp harness (bench/sipp-calls,
bench/sipp-register, bench/memory-per-call). Python 3 standard library only.

Every process started here is started in its own session and stopped by its
own id (process group = its pid) when the step ends, on error, on Ctrl-C and
on SIGTERM. All traffic goes to 127.0.0.1. Every wait is bounded.
"""

import atexit
import csv
import datetime
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
SCENARIOS = os.path.join(BENCH, "scenarios")
KAMAILIO_CFG = os.path.join(BENCH, "kamailio", "kamailio.cfg")
HOST = "127.0.0.1"

# Kamailio's reference set-up (../shared/bench/kamailio-reference/README.md)
KAM_ALLOCATOR = "tlsf"
KAM_SHM_MB = 3072
KAM_PKG_MB = 64
KAM_CHILDREN = 2


def log(msg):
    print(msg, flush=True)


def warn(msg):
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure the harness explains in one message and stops on."""


# --------------------------------------------------------------------------
# processes


_STARTED = []


class Proc:
    """A child process in its own session; stop() ends it and its children
    (its process group) by id: SIGTERM, then SIGKILL after a grace time."""

    def __init__(self, name, argv, cwd=None, stdout=None, stderr=None, env=None):
        self.name = name
        self.argv = argv
        self.out_path = stdout
        self._out = open(stdout, "wb") if stdout else subprocess.DEVNULL
        self._err = open(stderr, "wb") if stderr else (subprocess.STDOUT if stdout else subprocess.DEVNULL)
        self.p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._out,
                                  stderr=self._err, env=env, start_new_session=True)
        self.pid = self.p.pid
        _STARTED.append(self)

    def alive(self):
        return self.p.poll() is None

    def wait(self, timeout):
        """Exit code, or None when still running after timeout seconds."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def send(self, sig):
        if self.alive():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=10.0, sig=signal.SIGTERM):
        if self.alive():
            self.send(sig)
            if self.wait(grace) is None:
                self.send(signal.SIGKILL)
                self.wait(5)
        else:
            # children left in the group after the leader exited
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self._out, self._err):
            if hasattr(f, "close"):
                f.close()
        if self in _STARTED:
            _STARTED.remove(self)
        return self.p.returncode


def stop_all():
    for p in list(reversed(_STARTED)):
        try:
            p.stop(grace=5)
        except Exception as e:  # noqa: BLE001 - best effort on the way out
            warn(f"could not stop {p.name} (pid {p.pid}): {e}")


def _on_signal(signum, _frame):
    # no waiting inside the handler: signal every started process group
    # now, then unwind; the finally blocks and atexit wait for them.
    for p in list(_STARTED):
        p.send(signal.SIGTERM)
    warn(f"signal {signum}: stopping")
    sys.exit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    " + line for line in lines[-n:])
    except OSError:
        return "    (no output)"


# --------------------------------------------------------------------------
# ports and SIP probing


def udp_port_free(port, host=HOST):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def require_free(port, what):
    if not udp_port_free(port):
        raise BenchError(f"UDP {HOST}:{port} ({what}) is already in use by another process; "
                         f"free it or choose another port (see --help)")


def wait_bound(port, proc, timeout):
    """Wait until `proc` has bound UDP `port` (binding it ourselves fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            return False
        if not udp_port_free(port):
            return True
        time.sleep(0.05)
    return False


def sip_options(host, port, timeout=1.0):
    """Send one OPTIONS; the status code of the first response, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((HOST, 0))
        lport = s.getsockname()[1]
        branch = "z9hG4bK-bench-%08x" % random.getrandbits(32)
        callid = "bench-probe-%08x@%s" % (random.getrandbits(32), HOST)
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {HOST}:{lport};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:probe@{HOST}>;tag={random.getrandbits(32):08x}\r\n"
               f"To: <sip:{host}:{port}>\r\n"
               f"Call-ID: {callid}\r\n"
               f"CSeq: 1 OPTIONS\r\n"
               f"Accept: application/sdp\r\n"
               f"Content-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (host, port))
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            if line.startswith("SIP/2.0 "):
                try:
                    code = int(line.split()[1])
                except (IndexError, ValueError):
                    continue
                if code >= 200:
                    return code
        return None
    except OSError:
        return None
    finally:
        s.close()


def wait_sip_ready(host, port, proc, timeout, what):
    """Until `host:port` answers OPTIONS (any final response). Raises
    BenchError naming the reason when it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise BenchError(f"{what} exited (code {proc.p.returncode}) before answering SIP OPTIONS "
                             f"on {host}:{port}; its output ends with:\n{tail(proc.out_path)}")
        code = sip_options(host, port, timeout=0.5)
        if code is not None:
            return code
        time.sleep(0.2)
    raise BenchError(f"{what} did not answer SIP OPTIONS on udp {host}:{port} within {timeout:.0f} s"
                     + (f"; its output ends with:\n{tail(proc.out_path)}" if proc else ""))


# --------------------------------------------------------------------------
# memory


def proc_status(pid):
    """VmRSS / RssAnon / VmHWM of a pid, in kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------
# targets


class Target:
    """Something the SIPp load goes through. `host:port` is where the uac
    sends; the uas listens on `uas_port` (or is itself the target)."""

    name = "?"
    restart_per_step = True
    memory_kind = None

    def __init__(self, uas_port):
        self.uas_port = uas_port
        self.host = HOST
        self.port = uas_port
        self.proc = None

    def start(self, work):
        pass

    def prepare(self, work):
        pass

    def stop(self):
        if self.proc is not None:
            self.proc.stop(grace=10)
            self.proc = None

    def memory(self):
        return {}

    def after_step(self):
        return {}

    def describe(self):
        return self.name


class Direct(Target):
    """SIPp uac straight to SIPp uas: the harness ceiling."""

    name = "direct"
    restart_per_step = False

    def describe(self):
        return f"direct: SIPp uac -> SIPp uas on {HOST}:{self.uas_port} (no proxy)"


class Kamailio(Target):
    """Kamailio 5.6 with the reference kamailio.cfg, started in the
    foreground (-DD -E) with the reference set-up: -x tlsf -m 3072 -M 64,
    2 UDP children, a fresh start per step."""

    def __init__(self, name, defines, uas_port, port=5060, children=KAM_CHILDREN,
                 shm_mb=KAM_SHM_MB, pkg_mb=KAM_PKG_MB, allocator=KAM_ALLOCATOR,
                 nusers=None, ready_timeout=60, binary="kamailio"):
        super().__init__(uas_port)
        self.name = name
        self.defines = list(defines)
        self.port = port
        self.children = children
        self.shm_mb = shm_mb
        self.pkg_mb = pkg_mb
        self.allocator = allocator
        self.nusers = nusers
        self.ready_timeout = ready_timeout
        self.binary = binary
        self.ctl = None
        self.memory_kind = "shm"

    def describe(self):
        mode = " ".join(f"-A {d}" for d in self.defines) or "(proxy)"
        return (f"{self.name}: kamailio {mode} -x {self.allocator} -m {self.shm_mb} -M {self.pkg_mb}, "
                f"{self.children} UDP children, udp {HOST}:{self.port}"
                + ("" if "WITH_REGISTRAR" in self.defines else f" -> uas {HOST}:{self.uas_port}"))

    def start(self, work):
        if shutil.which(self.binary) is None:
            raise BenchError("kamailio is not installed: run bench/kamailio/setup (as root)")
        if shutil.which("kamcmd") is None:
            raise BenchError("kamcmd is not installed (Debian package kamailio): run bench/kamailio/setup")
        require_free(self.port, f"{self.name} listen")
        kdir = os.path.join(work, "kamailio")
        os.makedirs(os.path.join(kdir, "acc"), exist_ok=True)
        cfg = KAMAILIO_CFG
        shared = os.path.join(os.path.dirname(REPO), "shared", "bench", "kamailio-reference", "kamailio.cfg")
        if os.path.isfile(shared):
            with open(shared, "rb") as a, open(KAMAILIO_CFG, "rb") as b:
                if a.read() != b.read():
                    warn(f"note: bench/kamailio/kamailio.cfg differs from the reference {shared}")
        if self.port != 5060:
            # the reference cfg listens on 5060; a copy listens elsewhere
            with open(KAMAILIO_CFG) as f:
                text = f.read()
            text = text.replace("listen=udp:127.0.0.1:5060", f"listen=udp:127.0.0.1:{self.port}")
            text = text.replace('alias="127.0.0.1:5060"', f'alias="127.0.0.1:{self.port}"')
            cfg = os.path.join(kdir, "kamailio.cfg")
            with open(cfg, "w") as f:
                f.write(text)
        # a short path: a unix socket's path is limited to 107 bytes
        os.makedirs("/tmp/callex-bench", exist_ok=True)
        self.ctl = f"/tmp/callex-bench/kamctl-{os.getpid()}.sock"
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)
        self.kdir = kdir
        argv = [self.binary, "-f", cfg, "-DD", "-E",
                "-x", self.allocator, "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
                "-w", kdir, "-P", os.path.join(kdir, "kamailio.pid"),
                "-A", f"KCHILDREN={self.children}",
                "-A", f'UAS_URI="sip:{HOST}:{self.uas_port}"',
                "-A", f'CTLSOCK="unix:{self.ctl}"',
                "-A", f'ACC_DB_URL="flatstore:{os.path.join(kdir, "acc")}"']
        if self.nusers:
            argv += ["-A", f"NUSERS={self.nusers}"]
        for d in self.defines:
            argv += ["-A", d]
        with open(os.path.join(kdir, "command"), "w") as f:
            f.write(shlex.join(argv) + "\n")
        self.proc = Proc(self.name, argv, cwd=kdir, stdout=os.path.join(kdir, "kamailio.log"))
        wait_sip_ready(HOST, self.port, self.proc, self.ready_timeout, f"kamailio ({self.name})")
        # the ctl socket answers too (memory readings need it)
        deadline = time.monotonic() + 10
        while self.kamcmd("core.version") is None:
            if time.monotonic() > deadline:
                raise BenchError(f"kamailio ({self.name}) answers SIP but not kamcmd on {self.ctl}")
            time.sleep(0.2)

    def kamcmd(self, *args, timeout=10):
        try:
            r = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", *args], capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout if r.returncode == 0 else None

    def memory(self):
        """Shared memory figures (bytes) from `kamcmd core.shmmem`, and the
        active dialogs when the dialog module is loaded."""
        out = {}
        text = self.kamcmd("core.shmmem") or ""
        for line in text.splitlines():
            k, _, v = line.strip().partition(":")
            if k in ("used", "real_used", "max_used", "fragments"):
                try:
                    out["shm_" + k] = int(v.strip())
                except ValueError:
                    pass
        text = (self.kamcmd("stats.get_statistics", "active_dialogs") or "") if "WITH_DLGACC" in self.defines else ""
        for line in text.splitlines():
            if "active_dialogs" in line and "=" in line:
                try:
                    out["active_dialogs"] = int(line.rsplit("=", 1)[1].strip().strip('"'))
                except ValueError:
                    pass
        rss = 0
        for pid in self._pids():
            rss += proc_status(pid).get("VmRSS", 0)
        out["rss_kb_all_processes"] = rss
        return out

    def _pids(self):
        if not self.proc:
            return []
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    if int(fields[2]) == self.proc.pid:  # process group
                        pids.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return pids

    def stop(self):
        if self.proc is not None:
            self.proc.stop(grace=15)
            self.proc = None
            if self.ctl and os.path.exists(self.ctl):
                os.unlink(self.ctl)

    def after_step(self):
        """CDR lines written by db_flatstore (with WITH_DLGACC), once stopped."""
        if "WITH_DLGACC" not in self.defines or not getattr(self, "kdir", None):
            return {}
        n = 0
        acc = os.path.join(self.kdir, "acc")
        for fn in os.listdir(acc) if os.path.isdir(acc) else []:
            with open(os.path.join(acc, fn), "rb") as f:
                n += sum(1 for _ in f)
        return {"cdrs_written": n}


class Callex(Target):
    """`callex serve` started by the harness from a binary path and argument
    template given by the caller; {work} {port} {http_port} {uas_port} are
    filled in. An optional prepare command (shell) runs once Callex answers
    OPTIONS: provisioning members/numbers, registering the uas contact."""

    name = "callex"

    def __init__(self, uas_port, binary, args, port=5060, http_port=18080, prepare=None,
                 ready_timeout=30, prepare_timeout=300, restart=True, env=None):
        super().__init__(uas_port)
        self.binary = binary
        self.args = args
        self.port = port
        self.http_port = http_port
        self.prepare_cmd = prepare
        self.ready_timeout = ready_timeout
        self.prepare_timeout = prepare_timeout
        self.restart_per_step = restart
        self.env = env
        self.memory_kind = "rss"
        self.log_path = None

    def describe(self):
        return f"callex: {self.binary} {self.args} (udp {HOST}:{self.port})"

    def _fill(self, s, work):
        return s.format(work=work, port=self.port, http_port=self.http_port, uas_port=self.uas_port,
                        host=HOST)

    def start(self, work):
        if not self.binary or not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise BenchError(f"callex binary not found or not executable: {self.binary!r} "
                             f"(build it with `cargo build --release -p callex` or pass --callex-bin)")
        require_free(self.port, "callex SIP listen")
        cdir = os.path.join(work, "callex")
        os.makedirs(cdir, exist_ok=True)
        argv = [self.binary] + [self._fill(a, cdir) for a in shlex.split(self.args)]
        with open(os.path.join(cdir, "command"), "w") as f:
            f.write(shlex.join(argv) + "\n")
        self.log_path = os.path.join(cdir, "callex.log")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = Proc("callex", argv, cwd=cdir, stdout=self.log_path, env=env)
        wait_sip_ready(HOST, self.port, self.proc, self.ready_timeout, "callex serve")

    def prepare(self, work):
        if not self.prepare_cmd:
            return
        cdir = os.path.join(work, "callex")
        env = dict(os.environ)
        env.update({"BENCH_WORK": cdir, "BENCH_SIP_HOST": HOST, "BENCH_SIP_PORT": str(self.port),
                    "BENCH_HTTP_PORT": str(self.http_port), "BENCH_UAS_PORT": str(self.uas_port),
                    "CALLEX_PID": str(self.proc.pid), "CALLEX_BIN": self.binary})
        out = os.path.join(cdir, "prepare.log")
        with open(out, "wb") as f:
            try:
                r = subprocess.run(self._fill(self.prepare_cmd, cdir), shell=True, env=env,
                                   stdout=f, stderr=subprocess.STDOUT, timeout=self.prepare_timeout,
                                   start_new_session=True)
            except subprocess.TimeoutExpired:
                raise BenchError(f"callex prepare command did not finish within {self.prepare_timeout} s; "
                                 f"output:\n{tail(out)}")
        if r.returncode != 0:
            raise BenchError(f"callex prepare command failed (exit {r.returncode}):\n{tail(out)}")

    def memory(self):
        if not self.proc:
            return {}
        st = proc_status(self.proc.pid)
        return {"rss_kb": st.get("VmRSS"), "rss_anon_kb": st.get("RssAnon"), "hwm_kb": st.get("VmHWM")}


# --------------------------------------------------------------------------
# SIPp


SIPP_BUFF = 4 * 1024 * 1024  # socket buffers: the kernel clamps to its rmem_max/wmem_max


def sipp_bin():
    b = shutil.which("sipp")
    if not b:
        raise BenchError("sipp is not installed (Debian package sip-tester): run bench/kamailio/setup")
    return b


def start_uas(work, port, scenario, lifetime, extra=()):
    """SIPp uas on HOST:port; returns the Proc once it has bound the port."""
    require_free(port, "SIPp uas")
    os.makedirs(work, exist_ok=True)
    argv = [sipp_bin(), "-sf", scenario, "-i", HOST, "-p", str(port), "-nostdin",
            "-buff_size", str(SIPP_BUFF), "-timeout", str(int(lifetime)),
            "-trace_err", "-error_file", os.path.join(work, "uas_errors.log"),
            "-ringbuffer_files", "1", "-ringbuffer_size", "2000000",
            "-trace_stat", "-stf", os.path.join(work, "uas_stat.csv"), "-fd", "1", *extra]
    p = Proc("sipp-uas", argv, cwd=work, stdout=os.path.join(work, "uas.out"))
    if not wait_bound(port, p, 5):
        p.stop(grace=2)
        raise BenchError(f"SIPp uas did not start on {HOST}:{port}:\n{tail(p.out_path)}")
    return p


def uac_argv(work, tag, host, port, scenario, rate, calls, timeout_s, local_port, pause_ms=0,
             service=None, inf=None, limit=None, extra=()):
    argv = [sipp_bin(), f"{host}:{port}", "-sf", scenario, "-i", HOST, "-p", str(local_port),
            "-r", str(rate), "-rp", "1000", "-m", str(calls), "-d", str(pause_ms),
            "-nostdin", "-buff_size", str(SIPP_BUFF),
            "-timeout", str(int(timeout_s)), "-timeout_error",
            "-trace_stat", "-stf", os.path.join(work, f"{tag}_stat.csv"), "-fd", "1",
            "-trace_screen", "-screen_file", os.path.join(work, f"{tag}_screen.txt"),
            "-trace_err", "-error_file", os.path.join(work, f"{tag}_errors.log"),
            "-ringbuffer_files", "1", "-ringbuffer_size", "2000000"]
    if service:
        argv += ["-s", service]
    if inf:
        argv += ["-inf", inf]
    if limit:
        argv += ["-l", str(limit)]
    return argv + list(extra)


def read_stat_csv(path):
    rows = []
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter=";"):
                rows.append(row)
    except OSError:
        pass
    return rows


def _epoch(field):
    # "2026-11-23\t13:08:27.536751\t1795439307.536751"
    try:
        return float(field.split("\t")[-1])
    except (AttributeError, ValueError):
        return None


def _int(row, key):
    try:
        return int(float(row.get(key) or 0))
    except ValueError:
        return 0


def _rt_ms(field):
    # "00:00:00:000123" (hh:mm:ss:usec)
    try:
        h, m, s, us = field.split(":")
        return (int(h) * 3600 + int(m) * 60 + int(s)) * 1000 + int(us) / 1000.0
    except (AttributeError, ValueError):
        return None


FAIL_CAUSES = ["FailedCannotSendMessage", "FailedMaxUDPRetrans", "FailedUnexpectedMessage",
               "FailedCallRejected", "FailedCmdNotSent", "FailedRegexpDoesntMatch",
               "FailedOutboundCongestion", "FailedTimeoutOnRecv", "FailedTimeoutOnSend",
               "FailedTcpConnect", "FailedTcpClosed"]

MAX_FAIL_FRACTION = 0.001  # < 0.1 % failed calls
MIN_RATE_KEPT = 0.97       # the uac must have placed its calls at >= 97 % of the asked rate


def evaluate(rows, expected, rate, exit_code, wall_s):
    """The failure rule. Every call of the step that did not end as a
    SIPp "Successful call" counts as failed: failed by SIPp (unexpected or
    error response, retransmission timeout, ...), still unfinished when the
    step's time bound hit, or never placed. The step passes when
    failed < 0.1 % of the calls asked for AND SIPp placed them at the asked
    rate (>= 97 %: otherwise the generator, not the target, was the limit
    and the step says so)."""
    res = {"rate": rate, "calls": expected, "sipp_exit": exit_code, "wall_s": round(wall_s, 2)}
    if not rows:
        res.update(ok=0, failed=expected, failed_pct=100.0, placed=0, achieved_rate=0.0,
                   passed=False, reason="SIPp wrote no statistics (did it start? see uac.out)")
        return res
    last = rows[-1]
    ok = _int(last, "SuccessfulCall(C)")
    sipp_failed = _int(last, "FailedCall(C)")
    placed = _int(last, "OutgoingCall(C)")
    failed = max(0, expected - ok)
    res.update(ok=ok, failed=failed, failed_pct=round(100.0 * failed / expected, 3) if expected else 0,
               sipp_failed=sipp_failed, unfinished=max(0, placed - ok - sipp_failed),
               not_placed=max(0, expected - placed), placed=placed,
               retransmissions=_int(last, "Retransmissions(C)"),
               rt_avg_ms=_rt_ms(last.get("ResponseTime1(C)")))
    causes = {c: _int(last, c + "(C)") for c in FAIL_CAUSES if _int(last, c + "(C)")}
    if causes:
        res["fail_causes"] = causes
    # when was the last call placed? interpolate between the 1 s rows
    t0 = _epoch(rows[0].get("StartTime"))
    t_last = None
    prev = None
    for r in rows:
        n = _int(r, "OutgoingCall(C)")
        t = _epoch(r.get("CurrentTime"))
        if n >= expected and t is not None:
            if prev and prev[1] is not None and n > prev[0]:
                t_last = prev[1] + (expected - prev[0]) / (n - prev[0]) * (t - prev[1])
            else:
                t_last = t
            break
        prev = (n, t)
    if t0 is not None and t_last is not None and t_last > t0:
        # the k-th call leaves at (k-1)/rate: `expected` calls span (expected-1)/rate
        span = t_last - t0
        achieved = min(float(rate), (expected - 1) / span) if span > 0 else float(rate)
    elif t0 is not None and rows and placed:
        span = (_epoch(last.get("CurrentTime")) or t0) - t0
        achieved = placed / span if span > 0 else 0.0
    else:
        achieved = 0.0
    res["achieved_rate"] = round(achieved, 1)
    fail_ok = failed < MAX_FAIL_FRACTION * expected
    rate_ok = achieved >= MIN_RATE_KEPT * rate
    res["passed"] = bool(fail_ok and rate_ok)
    if not fail_ok:
        parts = [f"{res[k]} {label}" for k, label in (("sipp_failed", "failed in SIPp"),
                                                       ("unfinished", "unfinished at the time bound"),
                                                       ("not_placed", "never placed")) if res.get(k)]
        res["reason"] = (f"{failed} of {expected} not successful, {res['failed_pct']} % >= 0.1 %"
                         + (": " + ", ".join(parts) if parts else ""))
    elif not rate_ok:
        res["reason"] = (f"SIPp placed the calls at only {achieved:.0f}/s of {rate}/s asked "
                         f"(generator- or machine-bound)")
    return res


def run_uac(work, tag, target, scenario, rate, seconds, grace, local_port, pause_ms=0,
            service=None, inf=None, extra=()):
    """One bounded SIPp uac run at a fixed rate: `rate` x `seconds` calls,
    a global SIPp timeout of seconds + pause + grace, and a hard kill a few
    seconds after that. Returns the evaluated step."""
    calls = int(round(rate * seconds))
    bound = seconds + pause_ms / 1000.0 + grace
    argv = uac_argv(work, tag, target.host, target.port, scenario, rate, calls, bound, local_port,
                    pause_ms=pause_ms, service=service, inf=inf, extra=extra)
    with open(os.path.join(work, f"{tag}.command"), "w") as f:
        f.write(shlex.join(argv) + "\n")
    require_free(local_port, "SIPp uac")
    t = time.monotonic()
    p = Proc(f"sipp-{tag}", argv, cwd=work, stdout=os.path.join(work, f"{tag}.out"))
    code = p.wait(bound + 10)
    if code is None:
        warn(f"  SIPp {tag} still running {bound + 10:.0f} s after start: stopped")
    code = p.stop(grace=3)
    wall = time.monotonic() - t
    rows = read_stat_csv(os.path.join(work, f"{tag}_stat.csv"))
    res = evaluate(rows, calls, rate, code, wall)
    res["errors_file"] = os.path.join(work, f"{tag}_errors.log")
    return res


def first_errors(path, n=4):
    """Why calls failed, from a SIPp error log: the unexpected responses
    counted by status line, then the first other distinct messages."""
    import re
    codes = {}
    other = []
    try:
        with open(path, errors="replace") as f:
            text = f.read(4_000_000)
    except OSError:
        return []
    for m in re.finditer(r"while expecting '([^']*)'[^,]*, received 'SIP/2\.0 (\d{3}[^\r\n']*)", text):
        key = f"got '{m.group(2).strip()}' while expecting '{m.group(1)}'"
        codes[key] = codes.get(key, 0) + 1
    for m in re.finditer(r"while expecting '([^']*)'[^,]*, received '([A-Z]+) ", text):
        key = f"got a {m.group(2)} request while expecting '{m.group(1)}'"
        codes[key] = codes.get(key, 0) + 1
    out = [f"{v} x {k}" for k, v in sorted(codes.items(), key=lambda kv: -kv[1])][:n]
    if not out:
        for line in text.splitlines():
            line = line.strip()
            if line and ":" in line and line not in other and not line.startswith(("Via:", "From:", "To:")):
                other.append(line[:200])
            if len(other) >= n:
                break
    return out + other


# --------------------------------------------------------------------------
# stepping


def rate_steps(args):
    if args.rates:
        rates = [int(x) for x in args.rates.replace(" ", "").split(",") if x]
    else:
        if args.step <= 0:
            raise BenchError("--step must be > 0")
        rates = list(range(args.start, args.max + 1, args.step))
    if not rates:
        raise BenchError("no rate steps")
    if len(rates) > 60:
        raise BenchError(f"{len(rates)} steps: more than 60; use a larger --step")
    return rates


def add_step_args(ap, default_rates):
    g = ap.add_argument_group("stepping (each step: a fixed rate -r for N seconds, -m = rate x N)")
    g.add_argument("--rates", default=None,
                   help=f"comma-separated rates per second (default {default_rates}); "
                        "overrides --start/--step/--max")
    g.add_argument("--start", type=int, default=None)
    g.add_argument("--step", type=int, default=None)
    g.add_argument("--max", type=int, default=None)
    g.add_argument("--seconds", type=float, default=20,
                   help="length of a measured step in seconds (default 20, as the reference)")
    g.add_argument("--warmup", type=float, default=10,
                   help="seconds of load at the step's rate before each measured step, after the "
                        "target's fresh start; not counted (default 10; 0 = none)")
    g.add_argument("--grace", type=float, default=5,
                   help="seconds a step may run past its calls before unfinished calls count as "
                        "failed (default 5)")
    g.add_argument("--stop-after", type=int, default=1,
                   help="stop stepping a target after this many failing steps in a row (default 1)")
    g.add_argument("--work", default=None,
                   help="directory for logs and SIPp statistics (default /tmp/callex-bench/NAME-TIME)")
    g.add_argument("--json", default=None, help="also write the results as JSON to this file")


def finish_step_args(args, default_rates):
    if args.rates is None and args.start is None:
        args.rates = default_rates
    elif args.rates is None:
        if args.step is None or args.max is None:
            raise BenchError("--start needs --step and --max")


def make_work(args, name):
    if args.work:
        work = os.path.abspath(args.work)
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        work = os.path.join("/tmp/callex-bench", f"{name}-{stamp}-{os.getpid()}")
    if not work.startswith("/tmp/") and not work.startswith(BENCH + "/"):
        raise BenchError(f"--work must be under /tmp or bench/: {work}")
    os.makedirs(work, exist_ok=True)
    return work


def fmt_step(r):
    secs = r["calls"] / r["rate"] if r["rate"] else 0
    s = (f"{r['rate']:>6}/s x {secs:g} s: "
         f"{r['ok']:>7}/{r['calls']:<7} ok, failed {r['failed']:>6} ({r['failed_pct']:.3f} %)")
    if "achieved_rate" in r:
        s += f", placed at {r['achieved_rate']:.0f}/s"
    if r.get("rt_avg_ms") is not None:
        s += (f", avg response {r['rt_avg_ms']:.0f} ms" if r["rt_avg_ms"] >= 1 else ", avg response < 1 ms")
    if r.get("retransmissions"):
        s += f", retrans {r['retransmissions']}"
    if "cdrs_written" in r:
        s += f", CDRs {r['cdrs_written']}"
    s += "  PASS" if r["passed"] else "  FAIL"
    if not r["passed"] and r.get("reason"):
        s += f" ({r['reason']})"
    if r.get("fail_causes"):
        s += "  causes: " + ", ".join(f"{k[6:]}={v}" for k, v in r["fail_causes"].items())
    return s


def sweep(targets, rates, args, work, run_step, what="calls"):
    """Interleaved stepping: for each rate, each target still going runs its
    step (fresh start, warm-up, measurement). Returns {target: [results]}."""
    results = {t.name: [] for t in targets}
    fails = {t.name: 0 for t in targets}
    dead = {}
    for rate in rates:
        for t in targets:
            if t.name in dead or fails[t.name] >= args.stop_after:
                continue
            sdir = os.path.join(work, t.name, f"r{rate}")
            os.makedirs(sdir, exist_ok=True)
            log(f"[{t.name}] {rate}/s ...")
            try:
                r = run_step(t, rate, sdir)
            except BenchError as e:
                warn(f"[{t.name}] {e}")
                dead[t.name] = str(e)
                r = {"rate": rate, "calls": int(rate * args.seconds), "ok": 0,
                     "failed": int(rate * args.seconds), "failed_pct": 100.0, "passed": False,
                     "reason": str(e).splitlines()[0]}
            results[t.name].append(r)
            if t.name not in dead:
                log(f"[{t.name}] " + fmt_step(r))
            if r["passed"]:
                fails[t.name] = 0
            else:
                fails[t.name] += 1
                if r.get("ok", 0) == 0 and t.name not in dead:
                    errs = first_errors(r.get("errors_file", ""))
                    msg = f"no {what[:-1] if what.endswith('s') else what} completed through {t.name}"
                    if t.name == "callex":
                        part = "registrar" if what == "registrations" else "call path (B2BUA)"
                        msg += (f": Callex's {part} (issue 3) is not there yet, or it rejected the {what} "
                                f"(provisioned? see --callex-prepare)")
                    warn(f"[{t.name}] {msg}" + ("; first SIPp errors:\n    " + "\n    ".join(errs)
                                                  if errs else f"; see {r.get('errors_file')}"))
                    dead[t.name] = msg
    return results, dead


def best_rate(results):
    passing = [r["rate"] for r in results if r["passed"]]
    return max(passing) if passing else None


def summary(targets, results, dead, work, args, unit="calls/s", title="highest rate with < 0.1 % failed"):
    log("")
    log(f"== {title} ({args.seconds:g} s steps, warm-up {args.warmup:g} s; logs in {work})")
    best = {}
    capped = set()
    for t in targets:
        b = best_rate(results[t.name])
        best[t.name] = b
        tried = ", ".join(f"{r['rate']}{'+' if r['passed'] else 'x'}" for r in results[t.name])
        note = f"  [stopped: {dead[t.name].splitlines()[0]}]" if t.name in dead else ""
        steps = results[t.name]
        if b and steps and steps[-1]["passed"] and steps[-1]["rate"] == b and t.name not in dead:
            note += "  [every step passed: the limit is higher than the last rate tried]"
            capped.add(t.name)
        shown = ((">= " if "every step passed" in note else "") + f"{b} {unit}") if b else "none passed"
        log(f"  {t.name:<18} {shown:<22} steps: {tried}{note}")
    if len(targets) >= 2:
        a = targets[0].name
        for t in targets[1:]:
            if best.get(a) and best.get(t.name):
                caveat = ""
                if a in capped or t.name in capped:
                    caveat = ("  (not a measured ratio: " + " and ".join(sorted({a, t.name} & capped))
                              + " never failed a step; raise --max)")
                log(f"  ratio {t.name} / {a} = {best[t.name] / best[a]:.2f}{caveat}")
            else:
                log(f"  ratio {t.name} / {a}: n/a (one side has no passing step)")
    out = {"work": work, "seconds": args.seconds, "warmup": args.warmup, "unit": unit,
           "targets": {t.name: {"describe": t.describe(), "best": best[t.name],
                                "every_step_passed": t.name in capped,
                                "stopped": dead.get(t.name), "steps": results[t.name]}
                       for t in targets}}
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(out, f, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return best


def parse_hostport(s, default_port):
    host, _, port = s.rpartition(":")
    if not host:
        host, port = s, str(default_port)
    if host not in ("127.0.0.1", "localhost"):
        raise BenchError(f"only 127.0.0.1 is a target here, not {host}")
    return int(port)


# --------------------------------------------------------------------------
# command-line pieces shared by the scripts


def add_target_args(ap, uas_port=5090, uac_port=5070):
    g = ap.add_argument_group("ports (all on 127.0.0.1)")
    g.add_argument("--uas-port", type=int, default=uas_port, help=f"SIPp uas port (default {uas_port})")
    g.add_argument("--uac-port", type=int, default=uac_port, help=f"SIPp uac local port (default {uac_port})")
    k = ap.add_argument_group("kamailio (reference set-up: -x tlsf -m 3072 -M 64, 2 UDP children)")
    k.add_argument("--kamailio-port", type=int, default=5060, help="Kamailio's UDP port (default 5060)")
    k.add_argument("--kamailio-children", type=int, default=KAM_CHILDREN)
    k.add_argument("--kamailio-allocator", default=KAM_ALLOCATOR,
                   help="shared memory manager, -x (default tlsf; Debian's default is qm)")
    k.add_argument("--kamailio-shm", type=int, default=KAM_SHM_MB, help="-m MB (default 3072)")
    k.add_argument("--kamailio-pkg", type=int, default=KAM_PKG_MB, help="-M MB (default 64)")
    c = ap.add_argument_group("callex (started by the harness, fresh per step)")
    c.add_argument("--callex-bin", default=os.path.join(REPO, "target", "release", "callex"),
                   help="the callex binary (default target/release/callex)")
    c.add_argument("--callex-args",
                   default="serve --sip-listen {host}:{port} --http-listen {host}:{http_port} "
                           "--data-dir {work}/data --log warn",
                   help="arguments; {work} (a fresh directory per step), {port}, {http_port}, "
                        "{uas_port}, {host} are filled in (default: %(default)s)")
    c.add_argument("--callex-sip", default="127.0.0.1:5060",
                   help="where Callex takes SIP over UDP (default 127.0.0.1:5060)")
    c.add_argument("--callex-http-port", type=int, default=18080)
    c.add_argument("--callex-prepare", default=None,
                   help="shell command run once Callex answers OPTIONS, before the load (provision "
                        "members and numbers, register the uas contact from the uas port...); "
                        "env: BENCH_WORK BENCH_SIP_HOST BENCH_SIP_PORT BENCH_HTTP_PORT "
                        "BENCH_UAS_PORT CALLEX_PID CALLEX_BIN")
    c.add_argument("--callex-no-restart", action="store_true",
                   help="start Callex once for the whole run instead of fresh per step")
    c.add_argument("--callex-ready-timeout", type=float, default=30)


def make_kamailio(args, name, defines, nusers=None):
    return Kamailio(name, defines, args.uas_port, port=args.kamailio_port,
                    children=args.kamailio_children, shm_mb=args.kamailio_shm,
                    pkg_mb=args.kamailio_pkg, allocator=args.kamailio_allocator, nusers=nusers)


def make_callex(args):
    return Callex(args.uas_port, args.callex_bin, args.callex_args,
                  port=parse_hostport(args.callex_sip, 5060), http_port=args.callex_http_port,
                  prepare=args.callex_prepare, ready_timeout=args.callex_ready_timeout,
                  restart=not args.callex_no_restart)


def scenario(path):
    p = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(SCENARIOS, path)
    if not os.path.isfile(p):
        raise BenchError(f"scenario not found: {path}")
    return os.path.abspath(p)


def main_wrapper(fn):
    try:
        sys.exit(fn())
    except BenchError as e:
        warn(f"error: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        warn("interrupted")
        sys.exit(130)
    finally:
        stop_all()
