//! Redirects, followed here rather than by ureq, so that every `Location` is checked before it is
//! asked for: ureq 3.5.2 took `Location: file:///etc/passwd` for a path on the same server and
//! asked it for `GET /file:///etc/passwd`.

use std::time::Instant;

use common::http::{Client, Response};
use url::Url;

/// Redirects followed before the mirror fails, as Go's client does.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// GETs `url` (the client follows no redirect itself), then each redirect's `Location` in turn
/// while it is http or https, all of it due by `deadline`. Returns the first answer that is not a
/// redirect; an error is one line.
pub(crate) fn follow(
    client: &Client,
    url: &Url,
    deadline: Option<Instant>,
) -> Result<Response, String> {
    let mut url = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = client
            .get_until(&url, deadline)
            .map_err(|why| why.to_string())?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let Some(location) = &response.location else {
            return Err(format!(
                "HTTP status {} without a Location",
                response.status
            ));
        };
        url = target(&response.url, location)?;
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// Where `location` (resolved against the URL that answered it) points, if it is http or https.
fn target(base: &Url, location: &str) -> Result<Url, String> {
    let target = base
        .join(location.trim())
        .map_err(|why| format!("a redirect to an invalid URL: {why}"))?;
    match target.scheme() {
        "http" | "https" => Ok(target),
        scheme => Err(format!(
            "a redirect to a {scheme}: URL (only http and https are followed)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_resolves_against_the_answering_url_and_must_be_http() {
        let base = Url::parse("http://127.0.0.1:8000/a/b").unwrap();
        assert_eq!(
            target(&base, "c").unwrap().as_str(),
            "http://127.0.0.1:8000/a/c"
        );
        assert_eq!(
            target(&base, "//mirror.test/x").unwrap().as_str(),
            "http://mirror.test/x"
        );
        assert_eq!(
            target(&base, "https://mirror.test/x").unwrap().scheme(),
            "https"
        );
        for (location, scheme) in [
            ("file:///etc/passwd", "file"),
            ("javascript:alert(1)", "javascript"),
            (" ftp://mirror.test/x", "ftp"),
        ] {
            let why = target(&base, location).unwrap_err();
            assert!(why.contains(&format!("a {scheme}: URL")), "{why}");
        }
    }
}
