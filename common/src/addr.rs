//! Command-line network addresses, as the chapter's programs take them: `HOST:PORT`.
//!
//! The Go programs pass their address string straight to `net.Dial` or `net.Listen` and learn
//! only there that it is malformed. Here a malformed address is caught while the command line is
//! parsed, so it is a usage error (exit 2, SPEC.md) rather than a runtime one; whether the host
//! resolves is still only known when dialling or binding (exit 1).

/// Checks a command-line address: `HOST:PORT` with a numeric port (`[::1]:7` for IPv6), or
/// `:PORT` for localhost. Returns the address to dial or bind. Use it as a clap `value_parser`:
/// clap turns an `Err` into a usage error.
pub fn parse(arg: &str) -> Result<String, String> {
    let (host, port) = split(arg)?;
    if port.is_empty() {
        return Err("the port is missing (HOST:PORT, for example localhost:8000)".into());
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("{port:?} is not a port number (0-65535)"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // It could only fail to resolve, and an error line would print it.
        return Err("the host has a space or control character in it".into());
    }
    if host.is_empty() {
        return Ok(format!("localhost:{port}"));
    }
    Ok(arg.to_owned())
}

/// Splits `HOST:PORT` at the colon after the host: an IPv6 host is bracketed (`[::1]:7`), and its
/// own colons are no separator. A missing port comes back empty.
fn split(arg: &str) -> Result<(&str, &str), String> {
    if arg.is_empty() {
        return Err("the address is empty (HOST:PORT, for example localhost:8000)".into());
    }
    if arg.starts_with('[') {
        let Some(end) = arg.find(']') else {
            return Err(format!(
                "{arg:?} has no closing ']' (for example [::1]:8000)"
            ));
        };
        return match &arg[end + 1..] {
            "" => Ok((arg, "")),
            rest => match rest.strip_prefix(':') {
                Some(port) => Ok((&arg[..=end], port)),
                None => Err(format!("expected ':PORT' after {:?}", &arg[..=end])),
            },
        };
    }
    match arg.rsplit_once(':') {
        None => Ok((arg, "")),
        Some((host, _)) if host.contains(':') => Err(format!(
            "an IPv6 address goes in brackets: [{host}]:PORT (for example [::1]:8000)"
        )),
        Some(split) => Ok(split),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_host_port_and_bare_port() {
        assert_eq!(parse("localhost:8000").unwrap(), "localhost:8000");
        assert_eq!(parse("[::1]:7").unwrap(), "[::1]:7");
        assert_eq!(parse(":9000").unwrap(), "localhost:9000");
    }

    #[test]
    fn rejects_malformed_addresses() {
        assert!(parse("localhost").is_err());
        assert!(parse("garbage").is_err());
        assert!(parse("localhost:http").is_err());
        assert!(parse("localhost:65536").is_err());
        assert!(parse("127.0.0.1:99999").is_err());
        assert!(parse("").is_err());
        assert!(
            parse("local\nhost:1")
                .unwrap_err()
                .contains("control character")
        );
        assert!(parse(" localhost:1").unwrap_err().contains("space"));
    }

    #[test]
    fn a_missing_port_is_said_so() {
        for arg in ["[::1]", "[::1]:", "localhost", "localhost:", "127.0.0.1"] {
            let err = parse(arg).unwrap_err();
            assert!(err.starts_with("the port is missing"), "{arg}: {err}");
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(parse("[fe80::1%lo]:80").unwrap(), "[fe80::1%lo]:80");
        assert!(parse("::1:80").unwrap_err().contains("brackets"));
        assert!(parse("[::1").unwrap_err().contains("no closing"));
        assert!(parse("[::1]x80").unwrap_err().contains("expected ':PORT'"));
        assert_eq!(
            parse("").unwrap_err(),
            "the address is empty (HOST:PORT, for example localhost:8000)"
        );
    }
}
