//! The configurations `tests/differential.rs` generates: what a `Command`
//! can be set to, a seeded generator, an encoding to hand one to a spawner
//! process, the shrinking steps of the minimizer, and the pasteable Rust a
//! difference is reported as. Nothing here spawns.

use std::fmt::Write as _;

/// A small, seedable generator (splitmix64): no dependency, and a seed
/// names a run exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The program of a configuration. Paths are in the fixture directory `{d}`
/// (see `fixtures()` in tests/differential.rs); `bin/` is first in the
/// spawner's own `PATH`, so the bare names are found there unless the
/// command changes `PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `{d}/bin/ds-probe`, a symlink to this test binary: it reports.
    Probe,
    /// `ds-probe`, through `PATH`.
    ProbeBare,
    /// `./bin/ds-probe`: relative to the child's working directory.
    ProbeRelative,
    /// `{d}/bin/ds-script`, a `#!/bin/sh` script printing what it got.
    Script,
    ScriptBare,
    /// `{d}/bin/ds-noshebang`: executable, shell text, no `#!` (ENOEXEC).
    NoShebang,
    NoShebangBare,
    /// `{d}/bin/ds-empty`: an empty executable file (ENOEXEC).
    Empty,
    EmptyBare,
    /// `{d}/bin/ds-noexec`: mode 0644.
    NoExec,
    NoExecBare,
    /// `{d}/bin/ds-dir`: a directory.
    Dir,
    /// `{d}/bin/ds-loop`: a symlink to itself.
    Loop,
    /// `{d}/bin/ds-missing`: does not exist.
    Missing,
    MissingBare,
    /// `/proc/self/exe`: for a direct spawn, the spawner (this binary).
    ProcSelfExe,
    /// `true`, from the system's `PATH` entries.
    True,
    /// `/proc/self/fd/{PROBE_FD}`: a close-on-exec memory file holding a
    /// copy of the probe, made by the spawner (`cloexec_probe_copy`).
    ProcSelfFd,
}

/// The descriptor of `Program::ProcSelfFd`'s memory file.
pub const PROBE_FD: i32 = 60;

pub const PROGRAMS: &[Program] = &[
    Program::Probe,
    Program::ProbeBare,
    Program::ProbeRelative,
    Program::Script,
    Program::ScriptBare,
    Program::NoShebang,
    Program::NoShebangBare,
    Program::Empty,
    Program::EmptyBare,
    Program::NoExec,
    Program::NoExecBare,
    Program::Dir,
    Program::Loop,
    Program::Missing,
    Program::MissingBare,
    Program::ProcSelfExe,
    Program::True,
    Program::ProcSelfFd,
];

impl Program {
    /// The program's name with `{d}` for the fixture directory.
    pub fn template(self) -> &'static str {
        match self {
            Program::Probe => "{d}/bin/ds-probe",
            Program::ProbeBare => "ds-probe",
            Program::ProbeRelative => "./bin/ds-probe",
            Program::Script => "{d}/bin/ds-script",
            Program::ScriptBare => "ds-script",
            Program::NoShebang => "{d}/bin/ds-noshebang",
            Program::NoShebangBare => "ds-noshebang",
            Program::Empty => "{d}/bin/ds-empty",
            Program::EmptyBare => "ds-empty",
            Program::NoExec => "{d}/bin/ds-noexec",
            Program::NoExecBare => "ds-noexec",
            Program::Dir => "{d}/bin/ds-dir",
            Program::Loop => "{d}/bin/ds-loop",
            Program::Missing => "{d}/bin/ds-missing",
            Program::MissingBare => "ds-missing",
            Program::ProcSelfExe => "/proc/self/exe",
            Program::True => "true",
            Program::ProcSelfFd => "/proc/self/fd/60",
        }
    }

    pub fn is_bare(self) -> bool {
        !self.template().contains('/')
    }

    /// An executable file without `#!` (exec fails with ENOEXEC).
    pub fn is_without_shebang(self) -> bool {
        matches!(
            self,
            Program::NoShebang | Program::NoShebangBare | Program::Empty | Program::EmptyBare
        )
    }
}

/// One environment change, in the order given. Keys and values may hold
/// `{d}`, replaced by the fixture directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvOp {
    Set(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
    Clear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cwd {
    Root,
    /// `{d}`.
    Fixtures,
    /// `{d}/missing`.
    Missing,
    /// `{d}/file`, a plain file.
    NotDir,
}

impl Cwd {
    pub fn template(self) -> &'static str {
        match self {
            Cwd::Root => "/",
            Cwd::Fixtures => "{d}",
            Cwd::Missing => "{d}/missing",
            Cwd::NotDir => "{d}/file",
        }
    }
}

/// One standard descriptor's setting; `Default` sets nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    Default,
    Inherit,
    Null,
    Piped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// `process_group(0)`: a group of its own.
    Zero,
    /// `process_group(1)`: init's group, in another session (EPERM).
    One,
    /// `process_group(spawner's pgid)`: the spawner's own group.
    Own,
}

/// Everything a case sets. The process-wide parts (`ignored`, `closed`)
/// are applied in a spawner process of their own, never in the harness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub program: Program,
    pub arg0: Option<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    /// Filler arguments making argv + envp exactly this many bytes short of
    /// the kernel's limit (negative: over it). See `filler` in the test.
    pub big: Option<i64>,
    pub env: Vec<EnvOp>,
    pub cwd: Option<Cwd>,
    pub stdio: [Io; 3],
    pub group: Option<Group>,
    /// Blocked in the spawning thread.
    pub blocked: Vec<i32>,
    /// Ignored (SIG_IGN) in the spawner process.
    pub ignored: Vec<i32>,
    /// Closed in the spawner process.
    pub closed: Vec<i32>,
}

impl Config {
    pub fn plain(program: Program) -> Config {
        Config {
            program,
            arg0: None,
            args: Vec::new(),
            big: None,
            env: Vec::new(),
            cwd: None,
            stdio: [Io::Default; 3],
            group: None,
            blocked: Vec::new(),
            ignored: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// std's "has the command changed `PATH`" (its fork/exec trigger for a
    /// bare name): `PATH` set or removed, or the environment cleared.
    pub fn path_changed(&self) -> bool {
        self.env.iter().any(|op| match op {
            EnvOp::Set(k, _) | EnvOp::Remove(k) => k == b"PATH",
            EnvOp::Clear => true,
        })
    }
}

pub const SIGNALS: &[i32] = &[
    libc_sig::SIGHUP,
    libc_sig::SIGINT,
    libc_sig::SIGQUIT,
    libc_sig::SIGUSR1,
    libc_sig::SIGUSR2,
    libc_sig::SIGTERM,
    libc_sig::SIGTSTP,
    libc_sig::SIGTTIN,
    libc_sig::SIGTTOU,
    libc_sig::SIGWINCH,
];

/// Signal numbers (Linux), spelled out to keep this file free of libc.
pub mod libc_sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGTERM: i32 = 15;
    pub const SIGTSTP: i32 = 20;
    pub const SIGTTIN: i32 = 21;
    pub const SIGTTOU: i32 = 22;
    pub const SIGWINCH: i32 = 28;
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        10 => "SIGUSR1",
        12 => "SIGUSR2",
        15 => "SIGTERM",
        20 => "SIGTSTP",
        21 => "SIGTTIN",
        22 => "SIGTTOU",
        28 => "SIGWINCH",
        _ => "?",
    }
}

// ---------------------------------------------------------------------------
// Generating.
// ---------------------------------------------------------------------------

fn bytes(rng: &mut Rng, max: u64) -> Vec<u8> {
    let len = rng.below(max + 1);
    (0..len)
        .map(|_| match rng.below(10) {
            0 => 0,                           // NUL
            1 => 0x80 + rng.below(128) as u8, // not UTF-8
            2 => *rng.pick(b" \t\n=\"'\\$-"),
            _ => b'a' + rng.below(26) as u8,
        })
        .collect()
}

/// Bytes without NUL most of the time: NUL makes std refuse at once, which
/// would hide everything else.
fn maybe_nul(rng: &mut Rng, max: u64, nul_percent: u64) -> Vec<u8> {
    let mut b = bytes(rng, max);
    b.retain(|&c| c != 0);
    if rng.chance(nul_percent) {
        let at = rng.below(b.len() as u64 + 1) as usize;
        b.insert(at, 0);
    }
    b
}

const PATHS: &[&[u8]] = &[
    b"{d}/bin",
    b"{d}/bin:/usr/bin:/bin",
    b"/usr/bin:/bin",
    b"",
    b"{d}/nowhere",
    b":/usr/bin:/bin",
];

const KEYS: &[&[u8]] = &[
    b"DS_A",
    b"DS_B",
    b"PATH",
    b"HOME",
    b"LD_PRELOAD",
    b"LANG",
    b"DS_=K",
];

pub fn generate(rng: &mut Rng) -> Config {
    let mut c = Config::plain(*rng.pick(PROGRAMS));
    // The probe is where most observations are: favour it.
    if rng.chance(35) {
        c.program = *rng.pick(&[Program::Probe, Program::ProbeBare, Program::Script]);
    }
    if rng.chance(20) {
        c.arg0 = Some(maybe_nul(rng, 6, 25));
    }
    for _ in 0..rng.below(4) {
        c.args.push(maybe_nul(rng, 8, 8));
    }
    if rng.chance(5) {
        // Near the limit: mostly within the stub's overhead of it (about
        // 100 bytes), sometimes further below, sometimes over it.
        c.big = Some(if rng.chance(60) {
            rng.below(100) as i64
        } else {
            rng.below(400) as i64 - 40
        });
    }
    for _ in 0..rng.below(4) {
        let op = match rng.below(10) {
            0 => EnvOp::Clear,
            1 | 2 => EnvOp::Remove(rng.pick(KEYS).to_vec()),
            _ => {
                let key = if rng.chance(5) {
                    b"DS_\0K".to_vec()
                } else {
                    rng.pick(KEYS).to_vec()
                };
                let value = match key.as_slice() {
                    b"PATH" => rng.pick(PATHS).to_vec(),
                    b"LD_PRELOAD" => b"/nonexistent/libds-diff.so".to_vec(),
                    _ => maybe_nul(rng, 6, 10),
                };
                EnvOp::Set(key, value)
            }
        };
        c.env.push(op);
    }
    if rng.chance(30) {
        c.cwd = Some(*rng.pick(&[Cwd::Root, Cwd::Fixtures, Cwd::Missing, Cwd::NotDir]));
    }
    for slot in &mut c.stdio {
        if rng.chance(50) {
            *slot = *rng.pick(&[Io::Inherit, Io::Null, Io::Piped]);
        }
    }
    if rng.chance(25) {
        c.group = Some(*rng.pick(&[Group::Zero, Group::One, Group::Own]));
    }
    for list in [&mut c.blocked, &mut c.ignored] {
        if rng.chance(25) {
            for _ in 0..=rng.below(3) {
                let s = *rng.pick(SIGNALS);
                if !list.contains(&s) {
                    list.push(s);
                }
            }
        }
    }
    if rng.chance(15) {
        c.closed.push(*rng.pick(&[0, 2]));
    }
    c
}

// ---------------------------------------------------------------------------
// Shrinking.
// ---------------------------------------------------------------------------

/// Every configuration one step simpler than `c`, simplest steps first.
pub fn shrinks(c: &Config) -> Vec<Config> {
    let mut out = Vec::new();
    let mut with = |f: &dyn Fn(&mut Config)| {
        let mut n = c.clone();
        f(&mut n);
        if n != *c {
            out.push(n);
        }
    };
    with(&|n| n.big = None);
    with(&|n| n.arg0 = None);
    with(&|n| n.cwd = None);
    with(&|n| n.group = None);
    for i in 0..c.env.len() {
        with(&|n| {
            n.env.remove(i);
        });
    }
    for i in 0..c.args.len() {
        with(&|n| {
            n.args.remove(i);
        });
    }
    for i in 0..3 {
        with(&|n| n.stdio[i] = Io::Default);
    }
    for i in 0..c.blocked.len() {
        with(&|n| {
            n.blocked.remove(i);
        });
    }
    for i in 0..c.ignored.len() {
        with(&|n| {
            n.ignored.remove(i);
        });
    }
    for i in 0..c.closed.len() {
        with(&|n| {
            n.closed.remove(i);
        });
    }
    for i in 0..c.args.len() {
        with(&|n| {
            let a = &mut n.args[i];
            a.truncate(a.len() / 2);
        });
    }
    if let Some(a0) = &c.arg0 {
        let half = a0[..a0.len() / 2].to_vec();
        with(&|n| n.arg0 = Some(half.clone()));
    }
    if let Some(b) = c.big {
        if b != 0 {
            with(&|n| n.big = Some(b / 2));
        }
    }
    for i in 0..c.env.len() {
        if let EnvOp::Set(k, v) = &c.env[i] {
            let half = v[..v.len() / 2].to_vec();
            let k = k.clone();
            with(&|n| n.env[i] = EnvOp::Set(k.clone(), half.clone()));
        }
    }
    if c.program != Program::Probe {
        with(&|n| n.program = Program::Probe);
    }
    if c.cwd.is_some() && c.cwd != Some(Cwd::Root) {
        with(&|n| n.cwd = Some(Cwd::Root));
    }
    out
}

// ---------------------------------------------------------------------------
// Encoding, for the spawner process.
// ---------------------------------------------------------------------------

pub fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn ints(v: &[i32]) -> String {
    v.iter().map(|x| format!(" {x}")).collect()
}

pub fn encode(c: &Config) -> String {
    let mut s = String::new();
    let p = PROGRAMS.iter().position(|p| *p == c.program).unwrap();
    writeln!(s, "program {p}").unwrap();
    if let Some(a0) = &c.arg0 {
        writeln!(s, "arg0 {}", hex(a0)).unwrap();
    }
    for a in &c.args {
        writeln!(s, "arg {}", hex(a)).unwrap();
    }
    if let Some(b) = c.big {
        writeln!(s, "big {b}").unwrap();
    }
    for op in &c.env {
        match op {
            EnvOp::Set(k, v) => writeln!(s, "set {} {}", hex(k), hex(v)),
            EnvOp::Remove(k) => writeln!(s, "remove {}", hex(k)),
            EnvOp::Clear => writeln!(s, "clear"),
        }
        .unwrap();
    }
    if let Some(cwd) = c.cwd {
        writeln!(s, "cwd {}", cwd as u8).unwrap();
    }
    let io = c.stdio.map(|i| i as u8);
    writeln!(s, "stdio {} {} {}", io[0], io[1], io[2]).unwrap();
    if let Some(g) = c.group {
        writeln!(s, "group {}", g as u8).unwrap();
    }
    writeln!(s, "blocked{}", ints(&c.blocked)).unwrap();
    writeln!(s, "ignored{}", ints(&c.ignored)).unwrap();
    writeln!(s, "closed{}", ints(&c.closed)).unwrap();
    s
}

pub fn decode(text: &str) -> Config {
    let mut c = Config::plain(Program::Probe);
    for line in text.lines() {
        let mut w = line.split(' ');
        let key = w.next().unwrap();
        let rest: Vec<&str> = w.collect();
        let nums = || {
            rest.iter()
                .map(|x| x.parse::<i32>().unwrap())
                .collect::<Vec<_>>()
        };
        match key {
            "program" => c.program = PROGRAMS[rest[0].parse::<usize>().unwrap()],
            "arg0" => c.arg0 = Some(unhex(rest[0])),
            "arg" => c.args.push(unhex(rest[0])),
            "big" => c.big = Some(rest[0].parse().unwrap()),
            "set" => c.env.push(EnvOp::Set(unhex(rest[0]), unhex(rest[1]))),
            "remove" => c.env.push(EnvOp::Remove(unhex(rest[0]))),
            "clear" => c.env.push(EnvOp::Clear),
            "cwd" => {
                c.cwd =
                    Some([Cwd::Root, Cwd::Fixtures, Cwd::Missing, Cwd::NotDir][nums()[0] as usize])
            }
            "stdio" => {
                let all = [Io::Default, Io::Inherit, Io::Null, Io::Piped];
                let n = nums();
                c.stdio = [all[n[0] as usize], all[n[1] as usize], all[n[2] as usize]];
            }
            "group" => c.group = Some([Group::Zero, Group::One, Group::Own][nums()[0] as usize]),
            "blocked" => c.blocked = nums(),
            "ignored" => c.ignored = nums(),
            "closed" => c.closed = nums(),
            _ => {}
        }
    }
    c
}

// ---------------------------------------------------------------------------
// The reproduction.
// ---------------------------------------------------------------------------

/// `b"..."` for `bytes`.
pub fn byte_literal(bytes: &[u8]) -> String {
    let mut s = String::from("b\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(b as char),
            _ => write!(s, "\\x{b:02x}").unwrap(),
        }
    }
    s.push('"');
    s
}

fn os(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => format!("{t:?}"),
        _ => format!("OsStr::from_bytes({})", byte_literal(bytes)),
    }
}

/// `template` with `{d}` replaced.
pub fn fill(template: &[u8], d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < template.len() {
        if template[i..].starts_with(b"{d}") {
            out.extend_from_slice(d);
            i += 3;
        } else {
            out.push(template[i]);
            i += 1;
        }
    }
    out
}

/// The configuration as Rust: process-wide state, the command, and the two
/// spawns whose results differ (`route`: the `double_spawn_with` argument;
/// `tokio`: the command converted first).
pub fn reproduction(c: &Config, d: &str, tokio: bool, route: &str) -> String {
    let d = d.as_bytes();
    let f = |t: &str| os(&fill(t.as_bytes(), d));
    let mut s = String::new();
    let p = String::from_utf8_lossy(d);
    writeln!(
        s,
        "// Fixtures in {p}: fixtures() in tests/differential.rs (bin/ds-probe is the test binary);\n\
         // the spawning process's PATH starts with {p}/bin."
    )
    .unwrap();
    if let Some(b) = c.big {
        writeln!(
            s,
            "// filler({b}): arguments of 'x' bringing argv + envp to {b} bytes below ARG_MAX\n\
             // (tests/differential.rs, `filler`)."
        )
        .unwrap();
    }
    if c.program == Program::ProcSelfFd {
        writeln!(
            s,
            "// Descriptor {PROBE_FD}: a close-on-exec memfd holding a copy of the test binary."
        )
        .unwrap();
    }
    if !c.closed.is_empty() || !c.ignored.is_empty() {
        writeln!(s, "// In a process of its own (process-wide state):").unwrap();
        for fd in &c.closed {
            writeln!(s, "unsafe {{ libc::close({fd}) }};").unwrap();
        }
        for sig in &c.ignored {
            writeln!(
                s,
                "unsafe {{ libc::signal(libc::{}, libc::SIG_IGN) }};",
                signal_name(*sig)
            )
            .unwrap();
        }
    }
    if !c.blocked.is_empty() {
        let set: Vec<String> = c
            .blocked
            .iter()
            .map(|x| format!("Signal::{}", signal_name(*x)))
            .collect();
        writeln!(
            s,
            "let set: SigSet = [{}].into_iter().collect();\npthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();",
            set.join(", ")
        )
        .unwrap();
    }
    writeln!(
        s,
        "let mut cmd = Command::new({});",
        f(c.program.template())
    )
    .unwrap();
    let mut calls = Vec::new();
    if let Some(a0) = &c.arg0 {
        calls.push(format!(".arg0({})", os(a0)));
    }
    for a in &c.args {
        calls.push(format!(".arg({})", os(a)));
    }
    if let Some(b) = c.big {
        calls.push(format!(".args(filler({b}))"));
    }
    for op in &c.env {
        calls.push(match op {
            EnvOp::Set(k, v) => format!(".env({}, {})", os(&fill(k, d)), os(&fill(v, d))),
            EnvOp::Remove(k) => format!(".env_remove({})", os(k)),
            EnvOp::Clear => ".env_clear()".into(),
        });
    }
    if let Some(cwd) = c.cwd {
        calls.push(format!(".current_dir({})", f(cwd.template())));
    }
    for (i, io) in c.stdio.iter().enumerate() {
        let name = ["stdin", "stdout", "stderr"][i];
        match io {
            Io::Default => {}
            Io::Inherit => calls.push(format!(".{name}(Stdio::inherit())")),
            Io::Null => calls.push(format!(".{name}(Stdio::null())")),
            Io::Piped => calls.push(format!(".{name}(Stdio::piped())")),
        }
    }
    match c.group {
        None => {}
        Some(Group::Zero) => calls.push(".process_group(0)".into()),
        Some(Group::One) => calls.push(".process_group(1)".into()),
        Some(Group::Own) => calls.push(".process_group(unsafe { libc::getpgrp() })".into()),
    }
    if !calls.is_empty() {
        writeln!(s, "cmd{};", calls.join("\n    ")).unwrap();
    }
    if tokio {
        writeln!(
            s,
            "let mut cmd = tokio::process::Command::from(cmd); // in a current_thread runtime"
        )
        .unwrap();
    }
    writeln!(s, "let direct = cmd.spawn();").unwrap();
    writeln!(s, "let double = cmd.double_spawn_with({route}).spawn();").unwrap();
    s
}
