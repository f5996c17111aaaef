//! Errors: bad input fails `double_spawn()` exactly as it fails a direct
//! spawn (same kind, same raw OS error), from `spawn()` itself, with nothing
//! left running; what only the child can see is reported by the stub with
//! one line and a documented exit code; a stub started by hand with a
//! malformed command line prints a usage line and exits with its own code;
//! a stub command line replayed by anyone but the binary itself is refused.
//!
//! Standard libtest harness: with glibc the crate's ELF constructor makes
//! this binary a stub host without `init()`. With musl there is no such
//! constructor and libtest's `main` never calls `init()`, so this binary is
//! no stub host there: its double spawns go through the embedded stub
//! instead (see `enabled`), which runs the same stub algorithm, and the
//! stub is started by hand by its `/proc/self/fd/N` name. Nothing here may
//! start this binary itself with a stub command line on musl: libtest
//! would read the words as test-name filters and run the test that starts
//! it again. Work that must run in a process
//! of its own (the edge table, which checks that nothing is left running;
//! spawns from a parent with another `PATH` or another uid) runs in a child
//! of this binary started with `--exact child_role --ignored` and the role
//! in `DS_ERRORS_ROLE`.

// What these tests observe (/proc, Linux system calls) is Linux; the crate
// docs' "Platform support" says what is checked on other targets.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use double_spawn::{exit_code, DirectReason, DoubleSpawn, DoubleSpawnExt, Route, Stub};
use nix::libc;

const LIMIT: Duration = Duration::from_secs(30);
const MARKER: &str = "__double-spawn-stub-v1";
/// What a child of this binary is to do (see `child_role`).
const ROLE: &str = "DS_ERRORS_ROLE";
/// The fixture directory of the case a child runs.
const CASE_DIR: &str = "DS_ERRORS_CASE_DIR";
/// Prefix of the lines a child reports results on.
const ROW: &str = "DS-ROW\t";
/// The unprivileged uid and gid (`nobody`/`nogroup`).
const NOBODY: u32 = common::NOBODY;

/// What the tests double-spawn with: with glibc the current executable
/// (this binary, a stub host through the crate's ELF constructor); with
/// other C libraries (musl) the embedded stub, because this binary, whose
/// `main` is libtest's, never calls `init()` and so is no stub host.
fn enabled() -> DoubleSpawn {
    if cfg!(target_env = "gnu") {
        DoubleSpawn::enabled()
    } else {
        DoubleSpawn::enabled().stub(Stub::Embedded)
    }
}

/// The name a stub is started by from this process: `/proc/self/exe`
/// (glibc), or the embedded stub's `/proc/self/fd/N` (see `enabled`).
/// Never this binary's own path on musl, where it is no stub: panics if the
/// embedded stub is not available.
fn stub_name() -> PathBuf {
    if cfg!(target_env = "gnu") {
        return PathBuf::from("/proc/self/exe");
    }
    match enabled().route() {
        Route::Embedded { path } => path.to_owned(),
        other => panic!("no embedded stub here ({other}): nothing to start by hand"),
    }
}

// ---------------------------------------------------------------------------
// Children of this binary.
// ---------------------------------------------------------------------------

/// The entry point of the child processes the tests start; ignored in a
/// normal run (it does nothing without `DS_ERRORS_ROLE`).
#[test]
#[ignore = "entry point of child processes started by the other tests"]
fn child_role() {
    let Some(role) = std::env::var_os(ROLE) else {
        return;
    };
    let role = role.to_string_lossy().into_owned();
    match role.split_once(':') {
        Some(("case", index)) => {
            let dir = PathBuf::from(std::env::var_os(CASE_DIR).expect("case dir"));
            let case = &cases()[index.parse::<usize>().unwrap()];
            let row = run_case(case, &dir);
            println!("{ROW}{}", row.encode());
        }
        _ if role == "table" => edge_table(),
        _ if role == "report-active" => {
            println!("{ROW}{}", DoubleSpawn::new().is_active());
        }
        _ if role.starts_with("double-spawn-sh:") => {
            // A double spawn whose stub command line the test captures.
            let script = &role["double-spawn-sh:".len()..];
            let status = Command::new("/bin/sh")
                .args(["-c", script])
                .double_spawn_with(enabled())
                .status()
                .unwrap();
            println!("{ROW}{status}");
        }
        _ => panic!("unknown role {role:?}"),
    }
}

/// A command that starts this binary in `role`.
fn role_command(role: &str) -> Command {
    role_command_of(&std::env::current_exe().unwrap(), role)
}

/// A command that starts `binary` (this binary or a copy) in `role`.
fn role_command_of(binary: &Path, role: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args([
        "--exact",
        "child_role",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE, role)
    .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` (a role command) in a process group of its own, at most
/// `limit`: on time-out the whole group is killed and the test fails.
/// Returns the output; panics (with the output) unless the child succeeded.
fn run_role(mut cmd: Command, limit: Duration, what: &str) -> std::process::Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let pgid = child.id() as i32;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill only sends a signal, to the group this test made.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("{what}: no exit within {limit:?}; killed its process group");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn drain<R: io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// The `ROW` lines of a role's output, prefix removed.
fn rows(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(ROW))
        .map(str::to_owned)
        .collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------------------
// The edge table: direct vs double, std spawn, tokio spawn, std output.
// ---------------------------------------------------------------------------

/// Where the spawns of a case are made from.
#[derive(Clone, Copy)]
enum Spawner {
    /// The process running the table (`PATH` as the test was started with).
    Here,
    /// A child of this binary whose own `PATH` is the template (`{d}`: the
    /// case directory; `None`: no `PATH` at all), so that a bare name that
    /// the command leaves `PATH` alone for is looked up by `posix_spawnp` in
    /// that `PATH`, as std does.
    ParentPath(Option<&'static str>),
    /// A child of this binary running as uid/gid 65534 with that `PATH`
    /// (when the test does not run as root: as the test's own user).
    Unprivileged(&'static str),
}

/// One edge of program resolution.
struct Case {
    name: &'static str,
    spawner: Spawner,
    /// Extra fixture in the case directory, beyond `standard_fixture`.
    setup: fn(&Path),
    /// The command, given the case directory.
    build: fn(&Path) -> Command,
}

/// What the spawns of one case gave: std spawn, tokio spawn, std output.
struct Row {
    name: String,
    direct: [String; 3],
    double: [String; 3],
}

impl Row {
    fn encode(&self) -> String {
        let mut s = self.name.clone();
        for cell in self.direct.iter().chain(&self.double) {
            s.push('\t');
            s.push_str(cell);
        }
        s
    }

    fn decode(line: &str) -> Row {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "a row: {line:?}");
        let cell = |i: usize| f[i].to_string();
        Row {
            name: cell(0),
            direct: [cell(1), cell(2), cell(3)],
            double: [cell(4), cell(5), cell(6)],
        }
    }

    fn matches(&self) -> bool {
        self.direct == self.double
    }
}

fn nothing(_: &Path) {}

/// `{d}` in `template` replaced by the case directory.
fn fill(template: &str, dir: &Path) -> OsString {
    let mut out = Vec::new();
    let mut parts = template.split("{d}");
    out.extend_from_slice(parts.next().unwrap().as_bytes());
    for part in parts {
        out.extend_from_slice(dir.as_os_str().as_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    OsString::from_vec(out)
}

/// `program` with `PATH` set to the template in the command's environment
/// (std then spawns a bare name with fork/exec and `execvp`).
fn with_path(program: &str, template: &str, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", fill(template, dir));
    c
}

/// A `PATH` whose first entry is longer than `PATH_MAX`, then `{d}/bin`.
const LONG_PATH: &str = concat!("/", long_entry!(), ":{d}/bin");

/// 4200 bytes.
macro_rules! long_entry {
    () => {
        concat!(x1000!(), x1000!(), x1000!(), x1000!(), x100!(), x100!())
    };
}
macro_rules! x100 {
    () => {
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    };
}
macro_rules! x1000 {
    () => {
        concat!(
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!(),
            x100!()
        )
    };
}
use {long_entry, x100, x1000};

fn long_name() -> String {
    "n".repeat(libc::NAME_MAX as usize + 45)
}

/// `./` repeated to make a relative path of `len` bytes ending in `tool`.
fn dotted(len: usize) -> String {
    let mut p = "./".repeat((len - 4) / 2);
    p.push_str("tool");
    p
}

/// A directory below `dir` whose own path is about 2400 bytes long, holding
/// `tool`: with a 2200-byte relative program it exceeds `PATH_MAX` only if
/// the two are joined.
fn deep_dir(dir: &Path) -> PathBuf {
    let mut deep = dir.join("deep");
    for _ in 0..10 {
        deep.push("d".repeat(240));
    }
    deep
}

fn setup_deep(dir: &Path) {
    let deep = deep_dir(dir);
    std::fs::create_dir_all(&deep).unwrap();
    script(&deep.join("tool"), 15);
}

/// Files every case directory has:
/// `bin/tool` exits 11, `alt/tool` 12, `cwd/tool` 13 (the command's working
/// directory in the empty-`PATH`-entry cases), `rootonly/tool` 14 (mode 0744:
/// only root may run it); `noexec/tool` is mode 0644; `loop/tool` is a
/// symlink to itself; `file` is a plain file; `dir/` an empty directory;
/// `nosearch/` (mode 0644: no search permission but for root) holds an
/// executable `tool`.
fn standard_fixture(dir: &Path) {
    for (sub, code) in [("bin", 11), ("alt", 12), ("cwd", 13)] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        script(&dir.join(sub).join("tool"), code);
    }
    std::fs::create_dir_all(dir.join("rootonly")).unwrap();
    script(&dir.join("rootonly/tool"), 14);
    set_mode(&dir.join("rootonly/tool"), 0o744);
    std::fs::create_dir_all(dir.join("noexec")).unwrap();
    std::fs::write(dir.join("noexec/tool"), b"#!/bin/sh\nexit 99\n").unwrap();
    set_mode(&dir.join("noexec/tool"), 0o644);
    std::fs::create_dir_all(dir.join("loop")).unwrap();
    std::os::unix::fs::symlink("tool", dir.join("loop/tool")).unwrap();
    std::fs::write(dir.join("file"), b"data").unwrap();
    std::fs::create_dir_all(dir.join("dir")).unwrap();
    std::fs::create_dir_all(dir.join("nosearch")).unwrap();
    script(&dir.join("nosearch/tool"), 98);
    set_mode(&dir.join("nosearch"), 0o644);
    set_mode(dir, 0o755);
}

fn script(path: &Path, code: i32) {
    std::fs::write(path, format!("#!/bin/sh\nexit {code}\n")).unwrap();
    set_mode(path, 0o755);
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every edge, in table order.
fn cases() -> Vec<Case> {
    use Spawner::*;
    let case = |name: &'static str, build: fn(&Path) -> Command| Case {
        name,
        spawner: Here,
        setup: nothing,
        build,
    };
    let parent_path =
        |name: &'static str, path: Option<&'static str>, build: fn(&Path) -> Command| Case {
            name,
            spawner: ParentPath(path),
            setup: nothing,
            build,
        };
    let mut cases = vec![
        // The program name itself.
        case("empty program", |_| Command::new("")),
        case("empty program, PATH set", |d| with_path("", "{d}/bin", d)),
        case("\".\"", |_| Command::new(".")),
        case("\"..\"", |_| Command::new("..")),
        case("\".\", PATH without directories", |d| {
            with_path(".", "{d}/missing", d)
        }),
        case("trailing slash: /bin/sh/", |_| Command::new("/bin/sh/")),
        case("trailing slash: sh/", |_| Command::new("sh/")),
        case("trailing slash: tool/ in cwd", |d| {
            let mut c = Command::new("tool/");
            c.current_dir(d.join("cwd"));
            c
        }),
        case("trailing slash: a directory", |d| {
            Command::new(d.join("dir/"))
        }),
        case("missing program (PATH lookup)", |_| {
            Command::new("no-such-program-ds")
        }),
        case("missing program (path)", |_| {
            Command::new("/no/such/program")
        }),
        // Empty PATH entries and unusual PATHs, set in the command.
        case("PATH leading empty entry", |d| {
            let mut c = with_path("tool", ":{d}/bin", d);
            c.current_dir(d.join("cwd"));
            c
        }),
        case("PATH trailing empty entry", |d| {
            let mut c = with_path("tool", "{d}/noexec:", d);
            c.current_dir(d.join("cwd"));
            c
        }),
        case("PATH doubled colon", |d| {
            let mut c = with_path("tool", "{d}/missing::{d}/bin", d);
            c.current_dir(d.join("cwd"));
            c
        }),
        case("PATH empty entry, no current_dir", |d| {
            with_path("tool", "{d}/missing:", d)
        }),
        case("PATH is empty", |d| {
            let mut c = with_path("tool", "", d);
            c.current_dir(d.join("cwd"));
            c
        }),
        case("PATH is empty, program missing", |d| {
            with_path("tool", "", d)
        }),
        case("PATH entry with trailing slash", |d| {
            with_path("tool", "{d}/bin/", d)
        }),
        case("PATH entry is a file", |d| with_path("tool", "{d}/file", d)),
        case("PATH entry is a file, then missing", |d| {
            with_path("tool", "{d}/file:{d}/missing", d)
        }),
        case("PATH missing, then a file", |d| {
            with_path("tool", "{d}/missing:{d}/file", d)
        }),
        case("PATH without the program", |_| {
            let mut c = Command::new("true");
            c.env("PATH", "/nonexistent-ds");
            c
        }),
        case("PATH longer than PATH_MAX", |d| {
            let mut c = with_path("tool", &format!("/{}:{{d}}/bin", "x".repeat(4200)), d);
            c.current_dir(d.join("cwd"));
            c
        }),
        case("PATH missing, then an entry longer than PATH_MAX", |d| {
            let mut c = with_path("tool", &format!("{{d}}/file:/{}", "x".repeat(4200)), d);
            c.current_dir(d.join("cwd"));
            c
        }),
        // (A `PATH` of nothing but one entry longer than `PATH_MAX` is left
        // out: glibc then fails with whatever `errno` the spawning thread
        // last had, ECHILD or ENOENT in practice.)
        // No PATH at all: the C library's default.
        case("env_clear, true", |_| {
            let mut c = Command::new("true");
            c.env_clear();
            c
        }),
        case("env_clear, tool", |d| {
            let mut c = Command::new("tool");
            c.env_clear().current_dir(d.join("cwd"));
            c
        }),
        case("env_remove PATH, true", |_| {
            let mut c = Command::new("true");
            c.env_remove("PATH");
            c
        }),
        case("env_remove PATH, missing", |_| {
            let mut c = Command::new("no-such-program-ds");
            c.env_remove("PATH");
            c
        }),
        // Symlink loops.
        case("symlink loop by path", |d| {
            Command::new(d.join("loop/tool"))
        }),
        case("symlink loop in PATH", |d| {
            with_path("tool", "{d}/loop:{d}/bin", d)
        }),
        case("missing, then symlink loop in PATH", |d| {
            with_path("tool", "{d}/missing:{d}/loop", d)
        }),
        // Long names.
        case("bare name > NAME_MAX", |_| Command::new(long_name())),
        case("bare name > NAME_MAX, PATH missing dirs", |d| {
            with_path(&long_name(), "{d}/missing", d)
        }),
        case("bare name > NAME_MAX, PATH empty", |d| {
            with_path(&long_name(), "", d)
        }),
        case("path component > NAME_MAX", |d| {
            Command::new(d.join(long_name()))
        }),
        case("path component > NAME_MAX, missing dir", |d| {
            Command::new(d.join("missing").join(long_name()))
        }),
        case("path > PATH_MAX", |d| {
            let mut c = Command::new(dotted(4200));
            c.current_dir(d.join("cwd"));
            c
        }),
        Case {
            name: "relative path + current_dir > PATH_MAX together",
            spawner: Here,
            setup: setup_deep,
            build: |d| {
                let mut c = Command::new(dotted(2200));
                c.current_dir(deep_dir(d));
                c
            },
        },
        // Directories, non-executables, special files.
        case("a directory", |_| Command::new("/tmp")),
        case("a directory via PATH", |_| {
            let mut c = Command::new("tmp");
            c.env("PATH", "/");
            c
        }),
        case("/dev/null", |_| Command::new("/dev/null")),
        case("not executable, by path", |d| {
            Command::new(d.join("noexec/tool"))
        }),
        case("not executable, then found via PATH", |d| {
            with_path("tool", "{d}/noexec:{d}/bin", d)
        }),
        case("not executable via PATH, then missing", |d| {
            with_path("tool", "{d}/noexec:{d}/missing", d)
        }),
        case("missing, then not executable via PATH", |d| {
            with_path("tool", "{d}/missing:{d}/noexec", d)
        }),
        // current_dir.
        case("missing current_dir", |_| {
            let mut c = Command::new("/bin/true");
            c.current_dir("/no/such/dir");
            c
        }),
        case("current_dir is a file", |d| {
            let mut c = Command::new("/bin/true");
            c.current_dir(d.join("file"));
            c
        }),
        case("missing current_dir, ./tool", |d| {
            let mut c = Command::new("./tool");
            c.current_dir(d.join("missing"));
            c
        }),
        case("current_dir is a file, ./tool", |d| {
            let mut c = Command::new("./tool");
            c.current_dir(d.join("file"));
            c
        }),
        case("missing current_dir, bare name found", |d| {
            let mut c = with_path("tool", "{d}/bin", d);
            c.current_dir(d.join("missing"));
            c
        }),
        case("current_dir is a file, bare name missing", |d| {
            let mut c = with_path("tool", "{d}/missing", d);
            c.current_dir(d.join("file"));
            c
        }),
        case("current_dir is a file, PATH lookup missing", |d| {
            let mut c = Command::new("no-such-program-ds");
            c.current_dir(d.join("file"));
            c
        }),
        case("current_dir is a file, empty program", |d| {
            let mut c = Command::new("");
            c.current_dir(d.join("file"));
            c
        }),
        case("current_dir, ./tool", |d| {
            let mut c = Command::new("./tool");
            c.current_dir(d.join("cwd"));
            c
        }),
        case("relative current_dir, ./tool", |d| {
            // The case directory, relative to this process's working directory.
            let here = std::env::current_dir().unwrap();
            let mut rel = PathBuf::new();
            for _ in here.components().skip(1) {
                rel.push("..");
            }
            rel.push(d.join("cwd").strip_prefix("/").unwrap());
            let mut c = Command::new("./tool");
            c.current_dir(rel);
            c
        }),
        // NUL bytes and size limits.
        case("NUL in an argument", |_| {
            let mut c = Command::new("/bin/true");
            c.arg("a\0b");
            c
        }),
        case("NUL in the program", |_| Command::new("tr\0ue")),
        case("NUL in an environment value", |_| {
            let mut c = Command::new("/bin/true");
            c.env("DS", OsStr::from_bytes(b"a\0b"));
            c
        }),
        case("argument > MAX_ARG_STRLEN", |_| {
            let mut c = Command::new("/bin/true");
            c.arg("a".repeat(200_000));
            c
        }),
        // Searched by posix_spawnp in the spawning process's own PATH.
        parent_path("parent PATH leading empty entry", Some(":{d}/bin"), |d| {
            let mut c = Command::new("tool");
            c.current_dir(d.join("cwd"));
            c
        }),
        parent_path(
            "parent PATH trailing empty entry",
            Some("{d}/noexec:"),
            |d| {
                let mut c = Command::new("tool");
                c.current_dir(d.join("cwd"));
                c
            },
        ),
        parent_path(
            "parent PATH doubled colon",
            Some("{d}/missing::{d}/bin"),
            |d| {
                let mut c = Command::new("tool");
                c.current_dir(d.join("cwd"));
                c
            },
        ),
        parent_path("parent PATH is empty", Some(""), |d| {
            let mut c = Command::new("tool");
            c.current_dir(d.join("cwd"));
            c
        }),
        parent_path("parent PATH is empty, empty program", Some(""), |_| {
            Command::new("")
        }),
        parent_path("parent PATH longer than PATH_MAX", Some(LONG_PATH), |d| {
            let mut c = Command::new("tool");
            c.current_dir(d.join("cwd"));
            c
        }),
        parent_path("no parent PATH, true", None, |_| Command::new("true")),
        parent_path("no parent PATH, tool", None, |d| {
            let mut c = Command::new("tool");
            c.current_dir(d.join("cwd"));
            c
        }),
        parent_path("parent PATH symlink loop", Some("{d}/loop:{d}/bin"), |_| {
            Command::new("tool")
        }),
        parent_path(
            "parent PATH entry is a file",
            Some("{d}/missing:{d}/file"),
            |_| Command::new("tool"),
        ),
        parent_path(
            "parent PATH bare name > NAME_MAX",
            Some("{d}/missing:{d}/bin"),
            |_| Command::new(long_name()),
        ),
        parent_path(
            "parent PATH not executable, then found",
            Some("{d}/noexec:{d}/bin"),
            |_| Command::new("tool"),
        ),
    ];
    // No search permission on a PATH directory, for an unprivileged uid.
    let unprivileged = |name: &'static str, path: &'static str, build: fn(&Path) -> Command| Case {
        name,
        spawner: Unprivileged(path),
        setup: nothing,
        build,
    };
    cases.extend([
        unprivileged(
            "unprivileged: parent PATH no-search dir, then found",
            "{d}/nosearch:{d}/bin",
            |_| Command::new("tool"),
        ),
        unprivileged(
            "unprivileged: parent PATH no-search dir only",
            "{d}/nosearch",
            |_| Command::new("tool"),
        ),
        unprivileged(
            "unprivileged: PATH no-search dir, then found",
            "/usr/bin:/bin",
            |d| with_path("tool", "{d}/nosearch:{d}/bin", d),
        ),
        unprivileged(
            "unprivileged: PATH no-search dir, then missing",
            "/usr/bin:/bin",
            |d| with_path("tool", "{d}/nosearch:{d}/missing", d),
        ),
        unprivileged(
            "unprivileged: path through a no-search dir",
            "/usr/bin:/bin",
            |d| Command::new(d.join("nosearch/tool")),
        ),
        unprivileged(
            "unprivileged: current_dir without search permission",
            "/usr/bin:/bin",
            |d| {
                let mut c = Command::new("./tool");
                c.current_dir(d.join("nosearch"));
                c
            },
        ),
        unprivileged(
            "unprivileged: owner-only file, by path",
            "/usr/bin:/bin",
            |d| Command::new(d.join("rootonly/tool")),
        ),
        unprivileged(
            "unprivileged: owner-only file, then found via PATH",
            "/usr/bin:/bin",
            |d| with_path("tool", "{d}/rootonly:{d}/alt", d),
        ),
    ]);
    // The command switches to an unprivileged uid itself (root only): the
    // parent cannot check permissions for that uid.
    if is_root() {
        let switch = |name: &'static str, build: fn(&Path) -> Command| Case {
            name,
            spawner: Here,
            setup: nothing,
            build,
        };
        cases.extend([
            switch("uid switch: PATH no-search dir, then found", |d| {
                let mut c = with_path("tool", "{d}/nosearch:{d}/bin", d);
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: PATH no-search dir only", |d| {
                let mut c = with_path("tool", "{d}/nosearch", d);
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: missing, PATH has a no-search dir", |d| {
                let mut c = with_path("gone", "{d}/nosearch:{d}/bin", d);
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: path through a no-search dir", |d| {
                let mut c = Command::new(d.join("nosearch/tool"));
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: current_dir without search permission", |d| {
                let mut c = Command::new("./tool");
                c.current_dir(d.join("nosearch")).uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: owner-only file, by path", |d| {
                let mut c = Command::new(d.join("rootonly/tool"));
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("uid switch: owner-only file, then found via PATH", |d| {
                let mut c = with_path("tool", "{d}/rootonly:{d}/alt", d);
                c.uid(NOBODY).gid(NOBODY);
                c
            }),
            switch("gid switch only: root still searches everywhere", |d| {
                let mut c = with_path("tool", "{d}/nosearch:{d}/bin", d);
                c.gid(NOBODY);
                c
            }),
        ]);
    }
    cases
}

/// How one spawn ended: the error's kind and raw OS error, or the target's
/// exit.
fn describe<T>(
    result: io::Result<T>,
    wait: impl FnOnce(T) -> io::Result<std::process::ExitStatus>,
) -> String {
    match result {
        Ok(child) => match wait(child) {
            Ok(status) => match status.code() {
                Some(code) => format!("ok, exit {code}"),
                None => format!("ok, {status}"),
            },
            Err(e) => format!("wait failed: {e}"),
        },
        Err(e) => format!("{:?} {}", e.kind(), errno_name(e.raw_os_error())),
    }
}

fn errno_name(errno: Option<i32>) -> String {
    let Some(n) = errno else {
        return "(no errno)".into();
    };
    let name = match n {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::ENOTDIR => "ENOTDIR",
        libc::ELOOP => "ELOOP",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::ETXTBSY => "ETXTBSY",
        libc::EINVAL => "EINVAL",
        libc::EPERM => "EPERM",
        _ => "",
    };
    format!("{name}({n})")
}

/// Runs one case in this process: std spawn, tokio spawn and std output,
/// each direct and double; every child that starts is waited for.
fn run_case(case: &Case, dir: &Path) -> Row {
    let on = enabled();
    assert!(on.is_active(), "double spawns go through the stub here");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let std_wait =
        |mut child: std::process::Child| Ok(common::wait_bounded(&mut child, LIMIT, case.name));
    let tokio_wait = |mut child: tokio::process::Child| {
        rt.block_on(async {
            match tokio::time::timeout(LIMIT, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.kill().await;
                    panic!("{}: no exit within {LIMIT:?}; killed it", case.name)
                }
            }
        })
    };
    let tokio_spawn = |double: bool| {
        let _enter = rt.enter();
        let mut cmd = tokio::process::Command::from((case.build)(dir));
        if double {
            cmd.double_spawn_with(on).spawn()
        } else {
            cmd.spawn()
        }
    };
    let b = || (case.build)(dir);
    let direct = [
        describe(b().spawn(), std_wait),
        describe(tokio_spawn(false), tokio_wait),
        describe(b().output(), |o| Ok(o.status)),
    ];
    let double = [
        describe(b().double_spawn_with(on).spawn(), std_wait),
        describe(tokio_spawn(true), tokio_wait),
        describe(b().double_spawn_with(on).output(), |o| Ok(o.status)),
    ];
    Row {
        name: case.name.to_string(),
        direct,
        double,
    }
}

/// Runs one case where its spawner says; returns its row. `nobody_exe`: a
/// copy of this binary that uid 65534 can run (for the unprivileged cases).
fn run_case_anywhere(index: usize, case: &Case, dir: &Path, nobody_exe: &Path) -> Row {
    let (path, unprivileged) = match case.spawner {
        Spawner::Here => return run_case(case, dir),
        Spawner::ParentPath(path) => (path, false),
        Spawner::Unprivileged(path) => (Some(path), true),
    };
    let role = format!("case:{index}");
    let mut cmd = if unprivileged && is_root() {
        role_command_of(nobody_exe, &role)
    } else {
        role_command(&role)
    };
    cmd.env(CASE_DIR, dir).current_dir(dir);
    match path {
        Some(template) => cmd.env("PATH", fill(template, dir)),
        None => cmd.env_remove("PATH"),
    };
    if unprivileged && is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let out = run_role(cmd, LIMIT, case.name);
    let rows = rows(&out);
    assert_eq!(rows.len(), 1, "{}: {rows:?}", case.name);
    Row::decode(&rows[0])
}

/// One cell: the three flavours' result, once if they agree.
fn cell(results: &[String; 3]) -> String {
    if results.iter().all(|r| *r == results[0]) {
        results[0].clone()
    } else {
        format!(
            "spawn: {} / tokio: {} / output: {}",
            results[0], results[1], results[2]
        )
    }
}

/// The table itself, in a process of its own (see `edge_cases_match_direct`).
fn edge_table() {
    // The unprivileged cases run this binary as uid 65534, which may not be
    // able to reach it where it is (a checkout under a 0700 directory): they
    // run a copy, and every case's fixture lives beside it, where 65534
    // can reach it too.
    let cases = cases();
    let mut skip_unprivileged = false;
    let (root, nobody_exe) = match common::copy_of_self_for_nobody("errors-table") {
        Ok(copy) => copy,
        Err(e) => {
            // Not root: the unprivileged cases run as this user, from here.
            if is_root() {
                println!(
                    "SKIPPED the unprivileged cases: uid 65534 could not run this binary: {e}"
                );
                skip_unprivileged = true;
            }
            (
                common::TempDir::new("errors-table"),
                std::env::current_exe().unwrap(),
            )
        }
    };
    set_mode(&root.0, 0o755);
    let before = common::live_children();
    let mut table = String::new();
    let mut wrong = Vec::new();
    let width = cases.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for (i, case) in cases.iter().enumerate() {
        if skip_unprivileged && matches!(case.spawner, Spawner::Unprivileged(_)) {
            continue;
        }
        let dir = root.0.join(format!("case-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        standard_fixture(&dir);
        (case.setup)(&dir);
        let row = run_case_anywhere(i, case, &dir, &nobody_exe);
        let mark = if row.matches() { "" } else { "   <-- differs" };
        writeln!(
            table,
            "{:width$} | {} | {}{mark}",
            row.name,
            cell(&row.direct),
            cell(&row.double)
        )
        .unwrap();
        if !row.matches() {
            wrong.push(row.name.clone());
        }
        set_mode(&dir.join("nosearch"), 0o755);
    }
    println!("\n{:width$} | direct | double", "case");
    println!("{table}");
    assert_eq!(
        common::live_children(),
        before,
        "nothing is left running after the table"
    );
    assert!(
        wrong.is_empty(),
        "double spawn differs from direct: {wrong:?}"
    );
}

/// Every edge of program resolution fails (or succeeds) the same way
/// direct and double, for std `spawn()`, tokio `spawn()` and std `output()`:
/// same error kind and raw OS error, or the same program run. The table runs
/// in a child of this binary, where nothing else runs, so that it can check
/// that no child is left behind; run with `--nocapture` to see it.
#[test]
fn edge_cases_match_direct() {
    let out = run_role(
        role_command("table"),
        Duration::from_secs(300),
        "the edge table",
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

// ---------------------------------------------------------------------------
// What only the child can see, and the stub started by others.
// ---------------------------------------------------------------------------

/// Writes an executable file, and spawns it retrying on `ETXTBSY`: another
/// test's spawn may briefly hold an inherited descriptor open for writing.
fn spawn_fresh(cmd: &mut Command) -> io::Result<std::process::Child> {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
    cmd.spawn()
}

/// `ENOEXEC` is seen only when `exec` runs: a direct spawn returns it from
/// `spawn()`, a double spawn from the child (documented in the crate docs).
#[test]
fn script_without_shebang() {
    let dir = common::TempDir::new("enoexec");
    let script = dir.0.join("script");
    std::fs::write(&script, b"echo not a binary\n").unwrap();
    set_mode(&script, 0o755);
    let direct = spawn_fresh(&mut Command::new(&script)).expect_err("ENOEXEC");
    assert_eq!(direct.raw_os_error(), Some(libc::ENOEXEC));
    let mut out = None;
    for _ in 0..100 {
        let o = Command::new(&script)
            .stderr(Stdio::piped())
            .double_spawn_with(enabled())
            .output()
            .unwrap();
        let busy = String::from_utf8_lossy(&o.stderr).contains("Text file busy");
        out = Some(o);
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&*script.to_string_lossy()),
        "names the program: {err}"
    );
    assert!(err.contains("Exec format error"), "names the error: {err}");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        err.contains(&*cwd.to_string_lossy()),
        "names the cwd: {err}"
    );
}

/// A stub-form command's program is checked in the parent too (issue 17):
/// a missing one fails `spawn()` with a direct spawn's error, instead of
/// starting a stub that exits 127.
#[test]
fn stub_form_missing_program() {
    let on = enabled();
    assert!(on.is_active());
    let mut cmd = on.std_command("no-such-program-ds");
    cmd.arg("x").current_dir("/tmp").stderr(Stdio::piped());
    let err = cmd
        .double_spawn_with(on)
        .spawn()
        .expect_err("a missing program fails spawn()");
    let direct = Command::new("no-such-program-ds")
        .arg("x")
        .current_dir("/tmp")
        .spawn()
        .expect_err("missing");
    assert_eq!(
        (err.kind(), err.raw_os_error()),
        (direct.kind(), direct.raw_os_error())
    );
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    // The command is left as it was: in stub form, flags reset.
    assert_eq!(cmd.get_args().next(), Some(OsStr::new(MARKER)));
}

/// `DoubleSpawnCommand::route` answers for one command, from the very
/// decision its spawn makes.
#[test]
fn route_of_one_command() {
    let on = enabled();
    let route = |cmd: &mut Command| cmd.double_spawn_with(on).route();
    let config_route = on.route();
    assert!(!matches!(config_route, Route::Direct(_)), "{config_route}");
    assert_eq!(route(&mut Command::new("true")), config_route);
    assert_eq!(
        Command::new("true")
            .double_spawn_with(DoubleSpawn::disabled())
            .route(),
        Route::Direct(DirectReason::Disabled)
    );
    assert_eq!(
        route(Command::new("true").env("A", "x\0y")),
        Route::Direct(DirectReason::NulByte)
    );
    assert_eq!(
        route(Command::new("true").arg0("a\0b")),
        Route::Direct(DirectReason::NulByte)
    );
    assert_eq!(
        route(&mut Command::new("no-such-program-ds")),
        Route::Direct(DirectReason::ProgramNotRunnable)
    );
    assert_eq!(
        route(&mut on.std_command("true")),
        config_route,
        "a stub-form command"
    );
    // A thread that blocks the three stop signals spawns directly,
    // silently; one that blocks SIGTSTP alone still takes the stub (a
    // SIGTTIN or SIGTTOU could stop its child before exec).
    use nix::sys::signal::{SigSet, Signal};
    let blocking = |signals: &'static [Signal]| {
        std::thread::spawn(move || {
            let mut set = SigSet::empty();
            for &sig in signals {
                set.add(sig);
            }
            set.thread_block().unwrap();
            Command::new("true").double_spawn_with(on).route()
        })
        .join()
        .unwrap()
    };
    assert_eq!(
        blocking(&[Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU]),
        Route::Direct(DirectReason::SigtstpBlocked)
    );
    assert_eq!(blocking(&[Signal::SIGTSTP]), config_route, "SIGTSTP alone");

    let embedded = DoubleSpawn::enabled().stub(Stub::Embedded);
    let current = DoubleSpawn::enabled().stub(Stub::CurrentExe);
    let both = matches!(embedded.route(), Route::Embedded { .. })
        && matches!(current.route(), Route::CurrentExe { .. });
    if !both {
        println!("the embedded or the current-executable stub is missing: the rest is not checked");
        return;
    }
    // Kind 4: `/proc/self/exe` in the embedded stub would be the stub.
    assert!(matches!(
        Command::new("/proc/self/exe")
            .double_spawn_with(embedded)
            .route(),
        Route::CurrentExe { .. }
    ));
    // Kind 6: a loader variable for the target takes the static stub...
    let mut preload = Command::new("true");
    preload.env("LD_PRELOAD", "/nonexistent/libds.so");
    assert!(matches!(
        preload.double_spawn_with(current).route(),
        Route::Embedded { .. }
    ));
    // ... unless it is this process's own value, which acts on the stub as
    // it acted on this process.
    let mut same = Command::new("true");
    match std::env::var_os("LD_LIBRARY_PATH") {
        Some(v) => same.env("LD_LIBRARY_PATH", v),
        None => same.env_remove("LD_LIBRARY_PATH"),
    };
    assert!(matches!(
        same.double_spawn_with(current).route(),
        Route::CurrentExe { .. }
    ));
    // With both: neither stub can carry it.
    let mut both = Command::new("/proc/self/exe");
    both.env("LD_PRELOAD", "/nonexistent/libds.so");
    assert_eq!(
        both.double_spawn_with(embedded).route(),
        Route::Direct(DirectReason::LoaderVariables)
    );
}

/// Starts this test binary as a stub by hand, from inside itself: only the
/// name `/proc/self/exe`, which this process can use, makes the stub obey.
/// (With musl the embedded stub, by its `/proc/self/fd/N`: see `enabled`.)
fn stub_by_hand(arg0: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(stub_name());
    if let Some(arg0) = arg0 {
        cmd.arg0(arg0);
    }
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::output_bounded(child, LIMIT, "stub by hand")
}

#[test]
fn stub_by_hand_usage() {
    for args in [
        &[MARKER][..],
        &[MARKER, "/bin/true"],
        &[MARKER, "", "argv0"],
    ] {
        let out = stub_by_hand(None, args);
        assert_eq!(out.status.code(), Some(exit_code::USAGE), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("double-spawn: usage:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "the test harness did not run");
    }
}

#[test]
fn stub_by_hand_exit_codes() {
    let out = stub_by_hand(None, &[MARKER, "/no/such/program", "argv0", "x"]);
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/program"), "{err}");
    // The exit code for a failed exec comes from argv[0] when it names one.
    let out = stub_by_hand(
        Some("double-spawn:e70"),
        &[MARKER, "/no/such/program", "argv0"],
    );
    assert_eq!(out.status.code(), Some(70));
    // An argv[0] that does not parse leaves the default.
    let out = stub_by_hand(
        Some("double-spawn:e0"),
        &[MARKER, "/no/such/program", "argv0"],
    );
    assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED));
    // And a well-formed one runs the target with exactly the given argv
    // (sh -c SCRIPT takes $0 from the argument after the script).
    let script = "printf '%s|' \"$0\" \"$@\"";
    let out = stub_by_hand(
        None,
        &[MARKER, "/bin/sh", "sh", "-c", script, "first", "a b", ""],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first|a b||");
}

/// What a replayed stub command line did: its output, and whether the
/// target ran (it creates `ran`).
fn replay(exe: &Path, argv: &[OsString], ran: &Path) -> std::process::Output {
    let _ = std::fs::remove_file(ran);
    let child = Command::new(exe)
        .arg0(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::output_bounded(child, LIMIT, "replayed stub");
    assert_eq!(
        out.status.code(),
        Some(exit_code::REFUSED_PRIVILEGED),
        "refused: {out:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("double-spawn: refusing"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("escalated"),
        "the target did not run: {out:?}"
    );
    assert!(!ran.exists(), "the target did not run");
    out
}

/// The stub by a name other than the one only this process can use, as a
/// shell, `sudo` or a wrapper would start it: this binary's real path
/// (glibc); with musl, where this binary is no stub, the embedded stub's
/// descriptor through `/proc/PID/fd/N` (see `enabled`).
fn stub_by_another_name() -> PathBuf {
    if cfg!(target_env = "gnu") {
        return std::env::current_exe().unwrap();
    }
    let name = stub_name();
    let fd = name.strip_prefix("/proc/self/fd").unwrap();
    Path::new(&format!("/proc/{}/fd", std::process::id())).join(fd)
}

/// The stub's command line, replayed by the binary's real path (as a shell,
/// `sudo` or a wrapper would start it), is refused: exit 126, one line, and
/// the target never runs.
#[test]
fn replay_by_real_path_is_refused() {
    let dir = common::TempDir::new("replay");
    let ran = dir.0.join("ran");
    let script = format!("echo escalated; : > {}", ran.display());
    let exe = stub_by_another_name();
    let argv: Vec<OsString> = ["double-spawn:t", MARKER, "/bin/sh", "sh", "-c", &script]
        .iter()
        .map(OsString::from)
        .collect();
    replay(&exe, &argv, &ran);
    // Through a path that is neither the real one nor /proc/self/exe: a
    // symlink to the binary.
    let link = dir.0.join("link");
    std::os::unix::fs::symlink(&exe, &link).unwrap();
    replay(&link, &argv, &ran);
    // The same command line started by the name only the binary itself can
    // use runs the target: the refusal is about who started it.
    let out = stub_by_hand(
        Some("double-spawn:t"),
        &argv[1..]
            .iter()
            .map(|a| a.to_str().unwrap())
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(ran.exists(), "the target ran");
}

/// Parses the argv of strace's `execve("...", ["a", "b"], ...)` line.
fn strace_argv(line: &str) -> Option<(String, Vec<OsString>)> {
    let rest = &line[line.find("execve(\"")? + 8..];
    let (path, rest) = rest.split_once("\", [")?;
    let mut argv = Vec::new();
    let mut chars = rest.chars();
    loop {
        match chars.next()? {
            '"' => {
                let mut arg = Vec::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => arg.push(b'\n'),
                            't' => arg.push(b'\t'),
                            c => {
                                let mut b = [0; 4];
                                arg.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                            }
                        },
                        c => {
                            let mut b = [0; 4];
                            arg.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                        }
                    }
                }
                argv.push(OsString::from_vec(arg));
            }
            ']' => return Some((path.to_string(), argv)),
            _ => {}
        }
    }
}

/// A real stub command line, captured from a double spawn with
/// `strace -f -e trace=execve` (or, without strace, built from the
/// documented protocol), replayed from another parent by the binary's real
/// path: refused, and the target never runs.
#[test]
fn replay_of_a_captured_stub_command_line_is_refused() {
    let dir = common::TempDir::new("capture");
    let ran = dir.0.join("ran");
    let trace = dir.0.join("trace");
    let script = format!("echo escalated; : > {}", ran.display());
    let exe = stub_by_another_name();
    let mut role = role_command(&format!("double-spawn-sh:{script}"));
    let strace = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-s",
            "65535",
            "-e",
            "trace=execve",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&trace)
        .arg(role.get_program())
        .args(role.get_args())
        .envs(role.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let captured = match strace {
        Ok(child) => {
            let out = common::output_bounded(child, LIMIT, "strace");
            let text = std::fs::read_to_string(&trace).unwrap_or_default();
            let found = text.lines().filter_map(strace_argv).find(|(_, argv)| {
                // Not the embedded stub loader's probe (`MARKER / /`).
                argv.get(1).is_some_and(|a| a == MARKER)
                    && argv.get(2).is_some_and(|a| a == "/bin/sh")
            });
            match found {
                Some((path, argv)) => {
                    assert!(out.status.success(), "the traced double spawn: {out:?}");
                    if cfg!(target_env = "gnu") {
                        assert_eq!(path, "/proc/self/exe", "{text}");
                    } else {
                        assert!(path.starts_with("/proc/self/fd/"), "embedded: {text}");
                    }
                    assert!(ran.exists(), "the traced double spawn ran its target");
                    println!("captured with strace: {argv:?}");
                    Some(argv)
                }
                None => {
                    println!(
                        "strace captured no stub execve (ptrace not permitted?): {}; \
                         building the command line from the protocol",
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                    None
                }
            }
        }
        Err(e) => {
            println!("strace unavailable ({e}); building the command line from the protocol");
            None
        }
    };
    let argv = captured.unwrap_or_else(|| {
        // What a double spawn of `sh -c SCRIPT` passes (src/protocol.rs).
        let status = run_role(
            {
                role.stdout(Stdio::piped());
                role
            },
            LIMIT,
            "double spawn",
        );
        assert!(ran.exists(), "the double spawn ran its target: {status:?}");
        [
            "double-spawn:t",
            MARKER,
            "/bin/sh",
            "/bin/sh",
            "-c",
            &script,
        ]
        .iter()
        .map(OsString::from)
        .collect()
    });
    assert_eq!(argv[1], MARKER);
    replay(&exe, &argv, &ran);
}

#[test]
fn disabled_is_direct() {
    let off = DoubleSpawn::disabled();
    assert!(!off.is_active());
    let cmd = off.std_command("true");
    assert_eq!(cmd.get_program(), "true", "a plain command when disabled");
    let status = Command::new("true")
        .double_spawn_with(off)
        .status()
        .unwrap();
    assert!(status.success());
    // DOUBLE_SPAWN=0 in the environment of a process turns it off there.
    let active = |value: Option<&str>| {
        let mut cmd = role_command("report-active");
        match value {
            Some(v) => cmd.env(DoubleSpawn::ENV_VAR, v),
            None => cmd.env_remove(DoubleSpawn::ENV_VAR),
        };
        let out = run_role(cmd, LIMIT, "report-active");
        rows(&out).join("")
    };
    if cfg!(target_env = "gnu") {
        assert_eq!(active(None), "true");
        assert_eq!(active(Some("1")), "true");
    } else {
        // The current executable is the default stub, and this binary is
        // none without `init()` (see `enabled`); the embedded one is on.
        println!("musl: no ELF constructor, so unset and 1 are inactive here");
        assert_eq!(active(None), "false");
        assert_eq!(active(Some("1")), "false");
        assert_eq!(active(Some("embedded")), "true");
    }
    assert_eq!(active(Some("0")), "false");
    assert_eq!(active(Some("off")), "false");
}

/// Runs `make()`'s command to completion, again while the script is busy
/// (`ETXTBSY`: another test's spawn may briefly hold an inherited
/// descriptor open for writing), directly or through `double`.
fn output_retrying(
    make: &dyn Fn() -> Command,
    double: Option<&DoubleSpawn>,
) -> io::Result<std::process::Output> {
    let mut last = None;
    for _ in 0..100 {
        let mut cmd = make();
        let out = match double {
            None => cmd.output(),
            Some(config) => cmd.double_spawn_with(*config).output(),
        };
        let busy = match &out {
            Err(e) => e.raw_os_error() == Some(libc::ETXTBSY),
            Ok(o) => String::from_utf8_lossy(&o.stderr).contains("Text file busy"),
        };
        last = Some(out);
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    last.unwrap()
}

/// Issue 16, kind 5: a script without `#!` started by a bare name with
/// `PATH` changed in the command goes through std's `fork`/`exec`, whose
/// glibc `execvp` runs it as `/bin/sh FILE ARGS...` (argv[0] dropped, the
/// file's path as `$0`). Through either stub it runs the same way and sees
/// the same argv; musl's `execvp` does not fall back, and neither does the
/// stub there.
#[test]
fn script_without_shebang_on_the_fork_path_runs_with_sh() {
    let dir = common::TempDir::new("execvp-sh");
    let script = dir.0.join("ds-noshebang");
    std::fs::write(&script, b"printf '[%s]' \"$0\" \"$@\"; echo\n").unwrap();
    set_mode(&script, 0o755);
    let path = dir.0.clone();
    let mut routes = vec![("current executable", enabled())];
    if cfg!(target_env = "gnu") {
        routes.push(("embedded", DoubleSpawn::enabled().stub(Stub::Embedded)));
    }
    // (what, command): arguments, an argv[0] of its own (dropped by the
    // fallback), no arguments at all (`[sh, FILE]`), PATH removed from a
    // cleared environment (std's `env_saw_path`), and a stub-form command.
    type Make = Box<dyn Fn(&DoubleSpawn) -> Command>;
    let p = path.clone();
    let plain: Make = Box::new(move |_| {
        let mut cmd = Command::new("ds-noshebang");
        cmd.env("PATH", &p).args(["a", "b c", ""]);
        cmd
    });
    let p = path.clone();
    let arg0: Make = Box::new(move |_| {
        let mut cmd = Command::new("ds-noshebang");
        cmd.env("PATH", &p).arg0("zero").arg("x");
        cmd
    });
    let p = path.clone();
    let bare: Make = Box::new(move |_| {
        let mut cmd = Command::new("ds-noshebang");
        cmd.env_clear().env("PATH", &p);
        cmd
    });
    let p = path.clone();
    let stub_form: Make = Box::new(move |config| {
        let mut cmd = config.std_command("ds-noshebang");
        cmd.env("PATH", &p).arg("stub form");
        cmd
    });
    let expected_argv = [
        format!("[{}][a][b c][]", script.display()),
        format!("[{}][x]", script.display()),
        format!("[{}]", script.display()),
        format!("[{}][stub form]", script.display()),
    ];
    for (i, make) in [plain, arg0, bare, stub_form].iter().enumerate() {
        let off = DoubleSpawn::disabled();
        let direct = output_retrying(&|| make(&off), None);
        for (route, config) in &routes {
            assert!(config.is_active());
            let double = output_retrying(&|| make(config), Some(config)).unwrap();
            let said = String::from_utf8_lossy(&double.stdout);
            let err = String::from_utf8_lossy(&double.stderr);
            if cfg!(target_env = "gnu") {
                let direct = direct.as_ref().expect("glibc's execvp runs it");
                assert!(direct.status.success(), "direct, case {i}: {direct:?}");
                assert_eq!(
                    String::from_utf8_lossy(&direct.stdout).trim_end(),
                    expected_argv[i],
                    "direct, case {i}"
                );
                assert!(double.status.success(), "{route}, case {i}: {err}");
                assert_eq!(
                    said,
                    String::from_utf8_lossy(&direct.stdout),
                    "{route}, case {i}"
                );
            } else {
                let e = direct
                    .as_ref()
                    .expect_err("musl's execvp does not fall back");
                assert_eq!(e.raw_os_error(), Some(libc::ENOEXEC), "case {i}");
                assert_eq!(
                    double.status.code(),
                    Some(exit_code::EXEC_FAILED),
                    "{route}"
                );
                assert!(
                    err.contains("Exec format error"),
                    "{route}, case {i}: {err}"
                );
            }
        }
    }
    // On posix_spawn's path (PATH not changed in the command: the program is
    // found through this process's PATH) there is no fallback, through the
    // stub either: `spawn()` fails with ENOEXEC directly, the stub exits.
    let direct = output_retrying(&|| Command::new(&script), None).expect_err("ENOEXEC");
    assert_eq!(direct.raw_os_error(), Some(libc::ENOEXEC));
    for (route, config) in &routes {
        let out = output_retrying(&|| Command::new(&script), Some(config)).unwrap();
        assert_eq!(out.status.code(), Some(exit_code::EXEC_FAILED), "{route}");
    }
}

/// Issue 16, kind 7: a command that just fits the kernel's limit directly
/// is over it through the stub (whose command line is a few arguments
/// longer). It is spawned directly then, exactly as `cmd.spawn()`; in
/// strict mode that is an error naming the reason.
#[test]
fn arguments_that_just_fit_spawn_directly() {
    const CHUNK: usize = 100_000;
    // The filler: as many CHUNK-byte arguments as a direct spawn takes (the
    // kernel's limit follows the stack limit; sysconf's ARG_MAX is the C
    // library's guess, which musl caps, so the count is found by spawning).
    let build = |chunks: usize, last: usize| {
        let mut cmd = Command::new("/bin/true");
        for _ in 0..chunks {
            cmd.arg("x".repeat(CHUNK - 1));
        }
        cmd.arg("x".repeat(last));
        cmd
    };
    let spawns = |mut cmd: Command| match cmd.spawn() {
        Ok(mut child) => {
            child.wait().unwrap();
            true
        }
        Err(e) if e.raw_os_error() == Some(libc::E2BIG) => false,
        Err(e) => panic!("{e}"),
    };
    let mut chunks = 0;
    while spawns(build(chunks + 1, 0)) {
        chunks += 1;
        assert!(chunks < 10_000, "no argument limit found");
    }
    let with = |last: usize| build(chunks, last);
    let fits = |last: usize| spawns(with(last));
    // The longest last argument a direct spawn takes.
    let (mut lo, mut hi) = (0, CHUNK);
    assert!(fits(lo), "the filler alone is over the limit");
    assert!(!fits(hi), "the filler is not long enough");
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let on = enabled();
    let status = with(lo).double_spawn_with(on).status().unwrap();
    assert!(status.success());
    let err = with(lo)
        .double_spawn_with(on.strict(true))
        .spawn()
        .expect_err("strict mode refuses the unprotected spawn");
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    assert_eq!(
        double_spawn::Unprotected::of(&err).map(|u| u.reason()),
        Some(DirectReason::ArgumentsTooLong)
    );
    // One byte more fails both ways alike.
    let direct = with(hi).spawn().unwrap_err();
    let double = with(hi).double_spawn_with(on).spawn().unwrap_err();
    assert_eq!(
        (double.kind(), double.raw_os_error()),
        (direct.kind(), direct.raw_os_error())
    );
}
