//! A TLS failure as one readable line. rustls displays many of its errors with their debug text
//! (`invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`); this says them in words.

use std::error::Error as StdError;

use rustls::{CertificateError, Error};

/// The readable line for the TLS error in `err` or its sources, if there is one.
pub(super) fn readable(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<Error>() {
            return Some(format!("TLS: {}", said(tls)));
        }
        // Neither an `io::Error`'s `source` nor ureq's error reaches the error they wrap.
        next = if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io.get_ref().map(|inner| inner as &(dyn StdError + 'static))
        } else if let Some(ureq) = err.downcast_ref::<ureq::Error>() {
            match ureq {
                ureq::Error::Rustls(tls) => Some(tls),
                ureq::Error::Io(io) => Some(io),
                _ => None,
            }
        } else {
            err.source()
        };
    }
    None
}

/// What went wrong, in words.
fn said(err: &Error) -> String {
    match err {
        Error::InvalidCertificate(cert) => {
            format!("the server's certificate {}", certificate(cert))
        }
        Error::AlertReceived(alert) => {
            format!(
                "the server ended the handshake: {}",
                words(&format!("{alert:?}"))
            )
        }
        Error::NoCertificatesPresented => "the server sent no certificate".into(),
        Error::PeerIncompatible(why) => {
            format!(
                "the server's TLS is incompatible: {}",
                words(&format!("{why:?}"))
            )
        }
        Error::PeerMisbehaved(why) => {
            format!(
                "the server broke the protocol: {}",
                words(&format!("{why:?}"))
            )
        }
        Error::InvalidMessage(why) => {
            format!(
                "the server sent a corrupt message: {}",
                words(&format!("{why:?}"))
            )
        }
        // The others display as words already.
        other => other.to_string(),
    }
}

/// Completes "the server's certificate ...".
fn certificate(err: &CertificateError) -> String {
    match err {
        CertificateError::UnknownIssuer => {
            "is not trusted: its issuer is unknown (self-signed or a private CA)".into()
        }
        CertificateError::BadSignature => "has a bad signature".into(),
        CertificateError::BadEncoding => "is malformed".into(),
        CertificateError::Expired => "has expired".into(),
        CertificateError::NotValidYet => "is not valid yet".into(),
        CertificateError::Revoked => "has been revoked".into(),
        CertificateError::NotValidForName => "is not valid for this host name".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "is not meant for a server".into()
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "is signed with an unsupported algorithm".into()
        }
        // rustls passes on what its verifier (webpki) says, as the name of an error variant.
        CertificateError::Other(other) => match other.to_string().as_str() {
            "CaUsedAsEndEntity" => "is a CA certificate, not a server's own".into(),
            "EndEntityUsedAsCa" => "is signed by a certificate that is not a CA".into(),
            name => format!("is not valid: {}", words(name)),
        },
        // Those with context (expiry dates, the names it is valid for) display as words.
        context @ (CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYetContext { .. }
        | CertificateError::NotValidForNameContext { .. }) => {
            format!("is not valid: {context}")
        }
        other => format!("is not valid: {}", words(&format!("{other:?}"))),
    }
}

/// A debug name in words: `CaUsedAsEndEntity` -> `ca used as end entity`; what follows the
/// first non-letter (a variant's fields) is dropped.
fn words(name: &str) -> String {
    let mut text = String::new();
    for c in name.chars().take_while(char::is_ascii_alphanumeric) {
        if c.is_ascii_uppercase() && !text.is_empty() {
            text.push(' ');
        }
        text.push(c.to_ascii_lowercase());
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::{AlertDescription, OtherError};

    use super::*;

    /// What a TLS error reads as when it reaches us inside an `io::Error`, as from ureq.
    fn through_io(err: Error) -> Option<String> {
        let io = io::Error::new(io::ErrorKind::InvalidData, err);
        readable(&io)
    }

    /// rustls's error for one webpki rejects and rustls has no variant of its own for (as its
    /// `pki_error` wraps it).
    fn from_webpki(err: webpki::Error) -> Error {
        Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
    }

    #[test]
    fn a_ca_used_as_the_servers_certificate_is_said_in_words() {
        let err = from_webpki(webpki::Error::CaUsedAsEndEntity);
        assert!(err.to_string().contains("OtherError"), "{err}");
        assert_eq!(
            through_io(err).unwrap(),
            "TLS: the server's certificate is a CA certificate, not a server's own"
        );
    }

    #[test]
    fn every_line_is_words_not_debug_text() {
        for (err, line) in [
            (
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "TLS: the server's certificate is not trusted: its issuer is unknown \
                 (self-signed or a private CA)",
            ),
            (
                from_webpki(webpki::Error::PathLenConstraintViolated),
                "TLS: the server's certificate is not valid: path len constraint violated",
            ),
            (
                from_webpki(webpki::Error::EndEntityUsedAsCa),
                "TLS: the server's certificate is signed by a certificate that is not a CA",
            ),
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                "TLS: the server ended the handshake: handshake failure",
            ),
            (
                Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension),
                "TLS: the server's certificate is not valid: unhandled critical extension",
            ),
            (Error::DecryptError, "TLS: cannot decrypt peer's message"),
        ] {
            assert_eq!(through_io(err).unwrap(), line);
        }
    }

    #[test]
    fn ureqs_error_is_looked_into() {
        let tls = Error::InvalidCertificate(CertificateError::BadSignature);
        let line = "TLS: the server's certificate has a bad signature";
        assert_eq!(readable(&ureq::Error::Rustls(tls.clone())).unwrap(), line);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let wrapped = io::Error::other(ureq::Error::Io(io));
        assert_eq!(readable(&wrapped).unwrap(), line);
    }

    /// Serves TLS on 127.0.0.1 with a self-signed certificate for it (a CA's when `ca`) to the
    /// one client `get` is, and returns what the client's request failed with.
    fn get_from_self_signed(ca: bool) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = params.self_signed(&key).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url::Url::parse(&format!("https://{}/", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let tls = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut stream = rustls::StreamOwned::new(tls, socket);
            // The handshake, until the client gives up on the certificate (an alert, then EOF).
            let _ = io::Read::read(&mut stream, &mut [0; 64]);
        });
        let (_canceller, done) = crate::done::new();
        let options = crate::http::Options {
            timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let err = crate::http::Client::new(done, options)
            .get(&url)
            .err()
            .unwrap();
        let joined = testkit::child::join_deadline(server, Duration::from_secs(10));
        assert!(matches!(joined, Some(Ok(()))), "the TLS server did not end");
        err.to_string()
    }

    #[test]
    fn a_real_handshake_failure_is_one_line_in_words() {
        assert_eq!(
            get_from_self_signed(true),
            "TLS: the server's certificate is a CA certificate, not a server's own"
        );
        assert_eq!(
            get_from_self_signed(false),
            "TLS: the server's certificate is not trusted: its issuer is unknown \
             (self-signed or a private CA)"
        );
    }

    #[test]
    fn other_errors_are_left_alone() {
        let io = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(readable(&io), None);
        assert_eq!(readable(&io::Error::from(io::ErrorKind::TimedOut)), None);
    }
}
