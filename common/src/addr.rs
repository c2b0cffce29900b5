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
    let Some((host, port)) = arg.rsplit_once(':') else {
        return Err("expected HOST:PORT (for example localhost:8000)".into());
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{port:?} is not a port number (0-65535)"));
    }
    if host.is_empty() {
        return Ok(format!("localhost:{port}"));
    }
    Ok(arg.to_owned())
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
    }
}
