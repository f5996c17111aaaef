//! Reading a configured `std::process::Command` back.
//!
//! std has getters for the program, the arguments, the explicit environment
//! changes and the working directory, and nothing else. Whether the
//! environment was cleared, an overridden `argv[0]`, uid/gid, the process
//! group and the three stdio settings are visible only in the alternate
//! (`{:#?}`) `Debug` text of the command, which is std's unstable internal
//! layout. So this module parses that text and **fails closed**: a top-level
//! field it does not know, a value it cannot read, or a setting it cannot
//! carry to the stub's command is an error naming the setting, never
//! something silently dropped. A new std that renames or adds a field makes
//! `double_spawn()` return `InvalidInput` until this parser learns it; the
//! tests in this file and `tests/parity.rs` pin every setting std has today.
//!
//! What it cannot see: `pre_exec` closures leave no trace in the text, and
//! neither do `setsid(true)` and `chroot` (nightly std 1.95 does not print
//! them). They are what `double_spawn()` cannot carry on a plain command
//! and drops without a word (crate docs, "What differs"); stub-form
//! commands (`DoubleSpawn::std_command`) keep them.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::io::RawFd;
use std::process::Command;

/// How one of stdin, stdout, stderr is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StdioSpec {
    /// Not set: the spawn method's default applies.
    Unset,
    Inherit,
    Null,
    Piped,
    /// A descriptor the command holds (a `File`, a pipe end, `io::stderr()`).
    Fd(RawFd),
}

/// The settings of a command that its getters do not expose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hidden {
    /// `argv[0]`, when `CommandExt::arg0` set it to something other than the
    /// program.
    pub(crate) arg0: Option<OsString>,
    pub(crate) env_clear: bool,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) pgroup: Option<i32>,
    /// stdin, stdout, stderr.
    pub(crate) stdio: [StdioSpec; 3],
}

/// A setting the `Debug` text shows that the stub's command cannot be given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) String);

/// Reads the hidden settings of `cmd`.
pub(crate) fn hidden_settings(cmd: &Command) -> Result<Hidden, Unsupported> {
    use std::fmt::Write;
    // Sized for a typical command's text at once: this runs on every spawn,
    // and growing the buffer step by step costs more than the parse.
    let mut text = String::with_capacity(512);
    write!(text, "{cmd:#?}").map_err(|_| unsupported("layout", "the Debug text failed"))?;
    parse(&text, cmd.get_program())
}

/// Parses the alternate `Debug` text of a command whose program is `program`.
///
/// This runs on every spawn, so it walks the text once and allocates
/// nothing but an `argv[0]` that differs from the program.
pub(crate) fn parse(text: &str, program: &OsStr) -> Result<Hidden, Unsupported> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let inner = text
        .strip_prefix("Command {\n")
        .ok_or_else(|| unsupported("layout", "the Debug text does not open a Command"))?;
    let body = match inner {
        "}" => "",
        _ => inner
            .strip_suffix("\n}")
            .ok_or_else(|| unsupported("layout", "the Debug text does not close"))?,
    };
    let mut hidden = Hidden {
        arg0: None,
        env_clear: false,
        uid: None,
        gid: None,
        pgroup: None,
        stdio: [StdioSpec::Unset; 3],
    };
    for_each_field(body, |name, value| {
        match name {
            // Read through the getters, which return the exact bytes.
            "program" | "cwd" => {}
            "args" => hidden.arg0 = parse_arg0(value, program)?,
            "env" => hidden.env_clear = parse_env_clear(value)?,
            "uid" => hidden.uid = Some(parse_some_int(name, value)?),
            "gid" => hidden.gid = Some(parse_some_int(name, value)?),
            "pgroup" => hidden.pgroup = Some(parse_some_int(name, value)?),
            "stdin" => hidden.stdio[0] = parse_stdio(name, value)?,
            "stdout" => hidden.stdio[1] = parse_stdio(name, value)?,
            "stderr" => hidden.stdio[2] = parse_stdio(name, value)?,
            "create_pidfd" => match compact(value, &mut [0; COMPACT]) {
                Some("false,") => {}
                _ => return Err(unsupported(name, "pidfd creation is not carried")),
            },
            // groups, setsid, chroot and anything std adds later.
            other => return Err(unsupported(other, "this setting is not carried")),
        }
        Ok(())
    })?;
    Ok(hidden)
}

fn unsupported(setting: &str, why: &str) -> Unsupported {
    Unsupported(format!("`{setting}` ({why})"))
}

/// Calls `f` with each top-level field of the body: its name, and its value
/// (the rest of its first line and its continuation lines). A line indented
/// by exactly four spaces starts a field, deeper lines and the closing
/// bracket at four spaces continue it. `Debug` escapes newlines inside
/// strings, so a value can never fake a field line.
fn for_each_field<'a>(
    body: &'a str,
    mut f: impl FnMut(&'a str, &'a str) -> Result<(), Unsupported>,
) -> Result<(), Unsupported> {
    if body.is_empty() {
        return Ok(());
    }
    // The field being read: its name and where its value starts.
    let mut current: Option<(&str, usize)> = None;
    let mut start = 0;
    for line in body.split('\n') {
        let line_start = start;
        start += line.len() + 1;
        let depth = line.len() - line.trim_start_matches(' ').len();
        let closes = line[depth..].starts_with([']', ')', '}']);
        if depth == 4 && !closes {
            if let Some((name, from)) = current.take() {
                f(name, &body[from..line_start - 1])?;
            }
            let (name, _) = line[4..]
                .split_once(": ")
                .ok_or_else(|| unsupported("layout", "a field line without a name"))?;
            current = Some((name, line_start + 4 + name.len() + 2));
        } else if depth < 4 {
            return Err(unsupported("layout", "an unexpected line"));
        } else if current.is_none() {
            return Err(unsupported("layout", "a value before any field"));
        }
    }
    match current {
        Some((name, from)) => f(name, &body[from..]),
        None => Ok(()),
    }
}

/// The longest value `compact` reads: a stdio descriptor's is about 40.
const COMPACT: usize = 128;

/// The value's text without any white space (for values with no strings),
/// written into `buf`; `None` when it does not fit.
fn compact<'b>(value: &str, buf: &'b mut [u8; COMPACT]) -> Option<&'b str> {
    let mut len = 0;
    for b in value.bytes().filter(|b| !b.is_ascii_whitespace()) {
        *buf.get_mut(len)? = b;
        len += 1;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

fn parse_arg0(value: &str, program: &OsStr) -> Result<Option<OsString>, Unsupported> {
    let first = value
        .lines()
        .nth(1)
        .ok_or_else(|| unsupported("args", "argv[0] is missing"))?
        .trim();
    let quoted = first.strip_suffix(',').unwrap_or(first);
    // The common case, argv[0] the program, compared without unescaping.
    if quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .is_some_and(|q| !q.contains('\\') && q.as_bytes() == program.as_bytes())
    {
        return Ok(None);
    }
    let arg0 = unescape(quoted).ok_or_else(|| unsupported("args", "argv[0] is unreadable"))?;
    Ok((arg0 != program.as_bytes()).then(|| OsString::from_vec(arg0)))
}

/// Undoes the escaping `CStr`'s `Debug` applies (`u8::escape_ascii`).
fn unescape(quoted: &str) -> Option<Vec<u8>> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?.as_bytes();
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *inner.get(i)?;
        i += 1;
        out.push(match e {
            b'\\' | b'"' | b'\'' => e,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'x' => {
                let hex = std::str::from_utf8(inner.get(i..i + 2)?).ok()?;
                i += 2;
                u8::from_str_radix(hex, 16).ok()?
            }
            _ => return None,
        });
    }
    Some(out)
}

fn parse_env_clear(value: &str) -> Result<bool, Unsupported> {
    let mut clear = None;
    for line in value.lines() {
        let depth = line.len() - line.trim_start_matches(' ').len();
        if depth != 8 {
            continue; // the entries of `vars`, read through `get_envs`
        }
        match line.trim() {
            "clear: true," => clear = Some(true),
            "clear: false," => clear = Some(false),
            l if l.starts_with("vars: ") || l.starts_with("saw_path: ") => {}
            l if l.starts_with(['}', ']', ')']) => {}
            _ => return Err(unsupported("env", "an unknown environment setting")),
        }
    }
    clear.ok_or_else(|| unsupported("env", "the clear flag is missing"))
}

fn parse_some_int<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, Unsupported> {
    compact(value, &mut [0; COMPACT])
        .and_then(|s| s.strip_prefix("Some("))
        .and_then(|s| s.strip_suffix("),"))
        .and_then(|s| s.strip_suffix(',').unwrap_or(s).parse().ok())
        .ok_or_else(|| unsupported(name, "the value is unreadable"))
}

fn parse_stdio(name: &str, value: &str) -> Result<StdioSpec, Unsupported> {
    let mut buf = [0; COMPACT];
    let inner = compact(value, &mut buf)
        .and_then(|s| s.strip_prefix("Some("))
        .and_then(|s| s.strip_suffix("),"))
        .ok_or_else(|| unsupported(name, "the value is unreadable"))?;
    let inner = inner.strip_suffix(',').unwrap_or(inner);
    match inner {
        "Inherit" => Ok(StdioSpec::Inherit),
        "Null" => Ok(StdioSpec::Null),
        "MakePipe" => Ok(StdioSpec::Piped),
        _ if inner.starts_with("Fd(") || inner.starts_with("StaticFd(") => {
            let fd = inner
                .split_once("fd:")
                .and_then(|(_, rest)| {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    rest[..digits].parse().ok()
                })
                .ok_or_else(|| unsupported(name, "the descriptor is unreadable"))?;
            Ok(StdioSpec::Fd(fd))
        }
        _ => Err(unsupported(name, "an unknown stdio kind")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    fn hidden(cmd: &Command) -> Hidden {
        hidden_settings(cmd).unwrap()
    }

    #[test]
    fn a_plain_command_has_nothing_hidden() {
        let h = hidden(Command::new("prog").arg("a"));
        assert_eq!(h.arg0, None);
        assert!(!h.env_clear);
        assert_eq!(h.stdio, [StdioSpec::Unset; 3]);
        assert_eq!((h.uid, h.gid, h.pgroup), (None, None, None));
    }

    #[test]
    fn every_carried_setting_is_read() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&file);
        let mut cmd = Command::new("/bin/echo");
        cmd.arg0("zero")
            .env_clear()
            .env("A", "B")
            .current_dir("/tmp")
            .uid(5)
            .gid(6)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file);
        let h = hidden(&cmd);
        assert_eq!(h.arg0.as_deref(), Some(OsStr::new("zero")));
        assert!(h.env_clear);
        assert_eq!((h.uid, h.gid, h.pgroup), (Some(5), Some(6), Some(0)));
        assert_eq!(
            h.stdio,
            [StdioSpec::Null, StdioSpec::Piped, StdioSpec::Fd(fd)]
        );

        let mut cmd = Command::new("x");
        cmd.stdin(Stdio::inherit())
            .stdout(std::io::stdout())
            .stderr(std::io::stderr())
            .process_group(7);
        let h = hidden(&cmd);
        assert_eq!(
            h.stdio,
            [StdioSpec::Inherit, StdioSpec::Fd(1), StdioSpec::Fd(2)]
        );
        assert_eq!(h.pgroup, Some(7));
    }

    #[test]
    fn arg0_survives_any_bytes() {
        for arg0 in [
            &b""[..],
            b"a\nb",
            b"q\"u'o\\te",
            b"\xff\x01\x7f tab\t cr\r",
            b"prog ", // differs from the program by one byte
        ] {
            let mut cmd = Command::new("prog");
            cmd.arg0(OsStr::from_bytes(arg0));
            assert_eq!(
                hidden(&cmd).arg0.as_deref(),
                Some(OsStr::from_bytes(arg0)).filter(|a| *a != "prog"),
                "{arg0:?}"
            );
        }
        // An arg0 equal to the program is the same as none.
        assert_eq!(hidden(Command::new("p").arg0("p")).arg0, None);
        // A program with bytes that need escaping is not mistaken for arg0.
        assert_eq!(
            hidden(&Command::new(OsStr::from_bytes(b"p\"\xff\n"))).arg0,
            None
        );
    }

    #[test]
    fn unknown_fields_and_values_fail_closed() {
        let base = "Command {\n    program: \"p\",\n    args: [\n        \"p\",\n    ],\n";
        let cases = [
            (
                "    groups: Some(\n        [\n            1,\n        ],\n    ),\n",
                "groups",
            ),
            ("    create_pidfd: true,\n", "create_pidfd"),
            ("    stdin: Some(\n        Socket,\n    ),\n", "stdin"),
            ("    uid: Some(\n        x,\n    ),\n", "uid"),
            (
                "    env: CommandEnv {\n        clear: false,\n        inherit: no,\n    },\n",
                "env",
            ),
            ("    env: CommandEnv {\n        vars: {},\n    },\n", "env"),
            ("  odd\n", "layout"),
        ];
        for (field, name) in cases {
            let text = format!("{base}{field}}}");
            let err = parse(&text, OsStr::new("p")).unwrap_err();
            assert!(err.0.contains(name), "{field:?} gave {err:?}");
        }
        assert!(parse("Command", OsStr::new("p")).is_err());
        assert!(parse("Foo {\n}", OsStr::new("p")).is_err());
        assert!(parse(
            &format!("{base}    args: [\n        \"bad\\q\",\n    ],\n}}"),
            OsStr::new("p")
        )
        .is_err());
    }

    /// std 1.95's `{:#?}` prints neither `setsid` nor `chroot` (nightly
    /// settings), so on a plain command they are dropped, strict mode or
    /// not (crate docs, "What differs"), and no real command can show them
    /// here. These lines are made up: they check only that a std that did
    /// print them would have its command refused, never carried silently.
    #[test]
    fn a_std_that_printed_setsid_or_chroot_would_fail_closed() {
        let base = "Command {\n    program: \"p\",\n    args: [\n        \"p\",\n    ],\n";
        for (field, name) in [
            ("    setsid: true,\n", "setsid"),
            ("    chroot: Some(\n        \"/srv\",\n    ),\n", "chroot"),
        ] {
            let err = parse(&format!("{base}{field}}}"), OsStr::new("p")).unwrap_err();
            assert!(err.0.contains(name), "{field:?} gave {err:?}");
        }
    }

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(
            unescape(r#""a\x00\xffb\\\"\'\n\r\t""#).unwrap(),
            b"a\x00\xffb\\\"'\n\r\t"
        );
        assert_eq!(unescape(r#""\x4""#), None);
        assert_eq!(unescape(r#""\"#), None);
        assert_eq!(unescape("noquotes"), None);
    }
}
