//! What [`crate::crawl`] makes of an answer: a redirect's target, or a page's links, its body
//! streamed through the tokenizer chunk by chunk (so a cancel or the timeout stops it between
//! two chunks), and whether `--max-body` cut it.

use common::http::{self, Response};
use url::Url;

/// What one crawl found.
pub(crate) enum Page {
    /// A 2xx answer and the links to follow (none for a page at the depth limit or not HTML);
    /// `cut` when the body went on past `--max-body`.
    Links { links: Vec<Url>, cut: bool },
    /// A redirect to this URL.
    Redirect(Url),
}

pub(crate) enum Failure {
    Cancelled,
    Failed(String),
}

impl From<http::Error> for Failure {
    fn from(err: http::Error) -> Failure {
        if err.is_cancelled() {
            Failure::Cancelled
        } else {
            Failure::Failed(err.to_string())
        }
    }
}

/// The links of the HTML page `response`, whose final URL is `url`.
pub(crate) fn links(url: &Url, response: Response) -> Result<Page, Failure> {
    let content_type = response.content_type.clone();
    let mut body = response.into_body();
    let links = common::links::extract_from(url, &mut body, content_type.as_deref())
        .map_err(http::Error::from_io)?;
    let cut = body.cut();
    Ok(Page::Links { links, cut })
}

/// Where a redirect from `url` points: its `Location` resolved against `url`, without a
/// fragment; an error unless that is an `http` or `https` URL.
pub(crate) fn redirect_target(url: &Url, response: &Response) -> Result<Url, Failure> {
    let Some(location) = response.location.as_deref() else {
        let status = response.status;
        return Err(Failure::Failed(format!(
            "HTTP status {status} without a Location header"
        )));
    };
    let mut target = url
        .join(location.trim())
        .map_err(|err| Failure::Failed(format!("redirect to {location:?}: {err}")))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(Failure::Failed(format!(
            "redirect to {target}, not an http or https URL"
        )));
    }
    target.set_fragment(None);
    Ok(target)
}

/// `bytes` as a person writes it: `10 MiB`, `512 KiB`, `1000 bytes`.
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        0 => "0 bytes".into(),
        _ if bytes.is_multiple_of(1 << 20) => format!("{} MiB", bytes >> 20),
        _ if bytes.is_multiple_of(1 << 10) => format!("{} KiB", bytes >> 10),
        _ => format!("{bytes} bytes"),
    }
}
