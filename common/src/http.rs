//! Cancellable blocking HTTP: every in-flight request aborts within milliseconds of the done
//! signal (what the book's crawler of section 8.6 and its exercise 8.10 need, and exercise 8.11's
//! mirrored fetch).
//!
//! Go's `http.Request` carries a cancel channel (today a context); the transport watches it and
//! closes the connection. A blocking Rust client has no such thing, and a thread blocked in
//! `connect` or `read` wakes only when its socket is shut down from another thread. So this module
//! keeps every socket it opens where the canceller can reach it:
//!
//! - The HTTP work (request writing, response parsing, redirects, chunked bodies, TLS) is
//!   [`ureq`]'s, pinned at `=3.5.2` because its connector API is outside semver. A gzip body is
//!   decoded here (flate2), not by ureq, whose decoding cannot be turned off per request:
//!   [`Options::raw`] asks for no coding and decodes nothing, for a program that writes the
//!   bytes as the server sent them (mirrored-fetch, as curl without `--compressed`).
//! - Our connector connects through [`crate::net::connect`], whose socket the done signal shuts
//!   down from before the first SYN. The hook's guard lives inside the
//!   transport, so it is unregistered exactly when ureq drops the connection. ureq's rustls
//!   connector is chained after ours for `https`.
//! - Names are resolved with std's `ToSocketAddrs` on the calling thread. A DNS lookup cannot be
//!   interrupted: a cancel during one takes effect when it returns, and [`Options::timeout`]
//!   does not cut it short either (its time counts against the timeout, but the lookup runs to
//!   the system resolver's own limits, by default 5 s per try, 2 tries per server in
//!   `/etc/resolv.conf`). Tests use IP literals.
//! - A response head goes through `framing` before ureq parses it: 1xx heads before the final
//!   one are dropped, and a transfer or content coding ureq would not decode fails the request
//!   with an error that names it (ureq 3.5.2 would hand over still-encoded bytes).
//! - Proxies from the environment are not used (our connector speaks to the origin directly).
//! - No connection is reused: ureq's pool is off, so every request, and every redirect hop
//!   ureq follows, opens its own connection and closes it when its response is done with. A
//!   pooled connection can be one the server is closing that very moment (an HTTP/1.1 server
//!   may close an idle keep-alive connection at any time); the request sent on it then fails
//!   with `Peer disconnected`, and ureq 3.5.2, unlike Go's transport, does not retry it on a
//!   fresh connection. The cost is one TCP (and TLS) handshake per request, which a crawl of
//!   many pages of one remote host would have saved on most requests; on loopback it is tens
//!   of microseconds, and for mirrored-fetch, one request per mirror, nothing.
//!
//! Errors after the done signal fired are reported as cancelled ([`Error::is_cancelled`]),
//! whatever the socket said (a shut-down socket may read as end of file). A response body reader
//! checks the signal around every read for the same reason.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ureq::ResponseExt;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, RustlsConnector, Transport,
};

use crate::done::{Done, OnCancel};

mod framing;
#[cfg(test)]
mod tests;
mod tls;

/// Limits of every request a [`Client`] makes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The whole request, from connecting to the last body byte, the reader's own work between
    /// reads included. Default 30 s. A DNS lookup is not cut short by it (see the module docs).
    pub timeout: Duration,
    /// Bodies longer than this are cut (not an error, but [`Body::cut`] says so), so one huge
    /// page cannot exhaust memory. Default 10 MiB.
    pub max_body: u64,
    /// Redirects followed before the request fails. Default 10. With 0, no redirect is
    /// followed: the 3xx answer itself comes back as the response.
    pub max_redirects: u32,
    /// Sends no `Accept-Encoding` and decodes no `Content-Encoding`: the body is the bytes the
    /// server sent. Default false: `gzip` is asked for and decoded.
    pub raw: bool,
    /// Bytes of each connection's input and output buffers (ureq's default, 128 KiB; a
    /// response head longer than the input buffer grows it, up to 64 KiB of head). A program
    /// holding hundreds of connections at once sets it small: each buffer is filled whole.
    pub io_buffer: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(30),
            max_body: 10 << 20,
            max_redirects: 10,
            raw: false,
            io_buffer: 128 << 10,
        }
    }
}

/// A blocking HTTP client whose requests the done signal aborts. Cheap to clone; clones share
/// the done signal. No connection is kept between requests (see the module docs).
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
    /// Fires to abort every request of this client; also checked when an error comes back, so
    /// that a cancel is reported as one.
    done: Done,
    options: Options,
}

impl Client {
    /// A client whose every request (and every clone's) is aborted within milliseconds when
    /// `done` fires: while connecting, waiting for headers, or reading the body.
    pub fn new(done: Done, options: Options) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(options.max_redirects)
            .max_redirects_will_error(true)
            .timeout_global(Some(options.timeout))
            .proxy(None)
            // No connection pool: each request (and each redirect hop) has a connection of its
            // own, closed when its response is done with (see the module docs).
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .accept_encoding(if options.raw { "" } else { "gzip" })
            .input_buffer_size(options.io_buffer)
            .output_buffer_size(options.io_buffer)
            .build();
        // Framing last, so that it reads the head as sent, after TLS.
        let connector = CancellableConnector { done: done.clone() }
            .chain(RustlsConnector::default())
            .chain(framing::Framing {
                content_codings: !options.raw,
            });
        let resolver = StdResolver { done: done.clone() };
        Client {
            agent: ureq::Agent::with_parts(config, connector, resolver),
            done,
            options,
        }
    }

    /// GET `url`, following up to [`Options::max_redirects`] redirects. A non-2xx status is `Ok`
    /// with that status (with `max_redirects` 0, a 3xx too, its [`Response::location`] set);
    /// connect, I/O, timeout, cancel and too many redirects are errors.
    pub fn get(&self, url: &url::Url) -> Result<Response, Error> {
        self.get_until(url, Instant::now().checked_add(self.options.timeout))
    }

    /// [`Client::get`], with the whole request, body included, due by `deadline` (none: no
    /// limit) instead of within [`Options::timeout`] from now: for requests that share one
    /// deadline, such as the hops of a redirect a caller follows itself.
    pub fn get_until(&self, url: &url::Url, deadline: Option<Instant>) -> Result<Response, Error> {
        if self.done.cancelled() {
            return Err(Error::cancelled());
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::other(format!("unsupported scheme {}", url.scheme())));
        }
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(Error {
                kind: Kind::Timeout,
            });
        }
        let response = self
            .agent
            .get(url.as_str())
            .config()
            .timeout_global(left)
            .build()
            .call()
            .map_err(|err| self.error(err))?;
        if self.done.cancelled() {
            return Err(Error::cancelled());
        }
        let final_url =
            url::Url::parse(&response.get_uri().to_string()).unwrap_or_else(|_| url.clone());
        let content_type = response
            .headers()
            .get(ureq::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // Lossy: a server may send a non-ASCII Location; the URL parser percent-encodes it.
        let location = response
            .headers()
            .get(ureq::http::header::LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let status = response.status().as_u16();
        let gzip = !self.options.raw && is_gzip(response.headers());
        let (_, body) = response.into_parts();
        Ok(Response {
            url: final_url,
            status,
            content_type,
            location,
            // A decoded body is longer than the length its server declared.
            content_length: body.content_length().filter(|_| !gzip),
            gzip,
            body,
            done: self.done.clone(),
            max_body: self.options.max_body,
            deadline,
        })
    }

    /// Our error for ureq's: a cancel wins over whatever the shut-down socket reported.
    fn error(&self, err: ureq::Error) -> Error {
        if self.done.cancelled() {
            return Error::cancelled();
        }
        if let Some(line) = tls::readable(&err) {
            return Error::other(line);
        }
        match err {
            ureq::Error::Io(err) => Error::from_io(err),
            ureq::Error::Timeout(_) => Error {
                kind: Kind::Timeout,
            },
            ureq::Error::HostNotFound => Error::other("host not found".into()),
            other => Error::other(other.to_string()),
        }
    }
}

/// The answer to a GET: status and headers read, body not yet.
pub struct Response {
    /// The final URL, after redirects (what relative links resolve against).
    pub url: url::Url,
    pub status: u16,
    /// The `Content-Type` header as sent, parameters included.
    pub content_type: Option<String>,
    /// The `Location` header as sent (not resolved; bytes that are not UTF-8 replaced by
    /// U+FFFD): where a redirect points, for a caller that follows redirects itself
    /// ([`Options::max_redirects`] 0).
    pub location: Option<String>,
    /// The `Content-Length` the body is read to (none for a chunked body, one delimited by the
    /// end of the connection, or one decoded here).
    pub content_length: Option<u64>,
    /// The body is gzip and will be decoded (`Content-Encoding: gzip`, not [`Options::raw`]).
    gzip: bool,
    body: ureq::Body,
    done: Done,
    max_body: u64,
    /// When [`Options::timeout`] runs out, counted from the call to [`Client::get`].
    deadline: Option<Instant>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url.as_str())
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("location", &self.location)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// True when the media type is `text/html` (parameters and case ignored).
    pub fn is_html(&self) -> bool {
        self.content_type.as_deref().is_some_and(|value| {
            let media = value.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("text/html")
        })
    }

    /// The body, cut at `max_body` bytes.
    pub fn read_body(self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        self.into_body()
            .read_to_end(&mut body)
            .map_err(Error::from_io)?;
        Ok(body)
    }

    /// The body as a stream, cut at `max_body` bytes. Once the done signal fires every read
    /// fails with an error for which [`is_cancelled_io`] is true.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        Box::new(self.into_body())
    }

    /// The body as a stream that says whether it was cut (see [`Body`]).
    pub fn into_body(self) -> Body {
        let reader = self.body.into_reader();
        let inner: Box<dyn Read + Send> = if self.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        Body {
            inner,
            done: self.done,
            deadline: self.deadline,
            left: self.max_body,
            cut: None,
        }
    }
}

/// A response body as a stream, cut at [`Options::max_body`] bytes; [`Body::cut`] tells whether
/// there was more. A read fails, as cancelled ([`is_cancelled_io`]), once the done signal has
/// fired (a shut-down socket may read as a clean end), and with a timeout once the request's
/// [`Options::timeout`] has run out, however quickly the bytes come: so the reader's own work
/// between reads counts against the timeout too.
pub struct Body {
    inner: Box<dyn Read + Send>,
    done: Done,
    deadline: Option<Instant>,
    /// Bytes still to be read before the cut.
    left: u64,
    /// Whether a byte followed the cut; `None` until the limit is reached and looked past.
    cut: Option<bool>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("left", &self.left)
            .field("cut", &self.cut)
            .finish_non_exhaustive()
    }
}

impl Body {
    /// True when the body went on past `max_body` bytes and was cut there (known once a read
    /// has returned the end).
    pub fn cut(&self) -> bool {
        self.cut == Some(true)
    }

    /// A cancel or a timeout, as the error every read returns from then on.
    fn check(&self) -> io::Result<()> {
        if self.done.cancelled() {
            return Err(Error::cancelled().into());
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(Error {
                kind: Kind::Timeout,
            }
            .into());
        }
        Ok(())
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            if self.cut.is_none() {
                // One byte more tells a body of exactly `max_body` bytes from a longer one.
                let more = self.inner.read(&mut [0u8]);
                self.check()?;
                self.cut = Some(more? > 0);
            }
            return Ok(0);
        }
        let most = usize::try_from(self.left).map_or(buf.len(), |left| left.min(buf.len()));
        let result = self.inner.read(&mut buf[..most]);
        self.check()?;
        let read = result?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// True when `headers` say the body is gzip (`Content-Encoding: gzip` or `x-gzip`, one coding).
fn is_gzip(headers: &ureq::http::HeaderMap) -> bool {
    headers
        .get(ureq::http::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_gzip_coding)
}

/// True for the one content coding decoded here: `gzip` or `x-gzip`, in any case.
fn is_gzip_coding(value: &str) -> bool {
    let coding = value.trim();
    coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")
}

/// Why a request failed. Displays as one line, e.g. `connection refused (os error 111)`.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Cancelled,
    Timeout,
    Io(io::Error),
    Other(String),
}

impl Error {
    /// True when the request was aborted by the done signal.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled)
    }

    /// True when the request ran out of its [`Options::timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout)
    }

    fn cancelled() -> Error {
        Error {
            kind: Kind::Cancelled,
        }
    }

    fn other(message: String) -> Error {
        Error {
            kind: Kind::Other(message),
        }
    }

    /// Our error back out of an `io::Error` (as a body reader returns it), or the I/O error
    /// itself. ureq's errors wrapped in I/O errors are unwrapped too.
    pub fn from_io(err: io::Error) -> Error {
        if let Some(line) = tls::readable(&err) {
            return Error::other(line);
        }
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(Ok(ours)) = err.into_inner().map(|inner| inner.downcast::<Error>()) {
                return *ours;
            }
            return Error::other("unknown I/O error".into());
        }
        if err.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
            return match ureq::Error::from(err) {
                ureq::Error::Io(err) => Error {
                    kind: Kind::Io(err),
                },
                ureq::Error::Timeout(_) => Error {
                    kind: Kind::Timeout,
                },
                other => Error::other(other.to_string()),
            };
        }
        if err.kind() == io::ErrorKind::TimedOut {
            return Error {
                kind: Kind::Timeout,
            };
        }
        Error {
            kind: Kind::Io(err),
        }
    }
}

/// True when an I/O error from [`Response::into_reader`] means the done signal fired.
pub fn is_cancelled_io(err: &io::Error) -> bool {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .is_some_and(Error::is_cancelled)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Cancelled => f.write_str("cancelled"),
            Kind::Timeout => f.write_str("timed out"),
            Kind::Io(err) => write!(f, "{err}"),
            Kind::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match &err.kind {
            Kind::Cancelled => io::ErrorKind::ConnectionAborted,
            Kind::Timeout => io::ErrorKind::TimedOut,
            Kind::Io(err) => err.kind(),
            Kind::Other(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// Opens plain TCP connections the done signal can abort at any point (see the module docs).
#[derive(Debug)]
struct CancellableConnector {
    done: Done,
}

impl Connector for CancellableConnector {
    type Out = Guarded;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Guarded>, ureq::Error> {
        let deadline = details
            .timeout
            .not_zero()
            .and_then(|left| Instant::now().checked_add(*left));
        let mut last_error = None;
        for addr in details.addrs.iter() {
            if self.done.cancelled() {
                break;
            }
            match crate::net::connect(*addr, deadline, &self.done) {
                Ok((stream, guard)) => {
                    // Requests are small writes the server waits for in full.
                    let _ = stream.set_nodelay(true);
                    let config = details.config;
                    let buffers =
                        LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    return Ok(Some(Guarded {
                        stream,
                        buffers,
                        read_timeout: None,
                        write_timeout: None,
                        _guard: guard,
                    }));
                }
                Err(err) => last_error = Some(err),
            }
        }
        if self.done.cancelled() {
            return Err(ureq::Error::Io(Error::cancelled().into()));
        }
        Err(ureq::Error::Io(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "no address to connect to")
        })))
    }
}

/// A plain TCP transport (ureq's own is not public) plus the registration of its shutdown hook,
/// which lives exactly as long as the connection: ureq drops the transport when the connection
/// ends or leaves its pool.
struct Guarded {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The socket timeouts last set, so a syscall is made only when one changes.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    _guard: OnCancel,
}

impl fmt::Debug for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("peer", &self.stream.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// The time left in `timeout`, or ureq's timeout error when none is.
fn time_left(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if timeout.after.is_not_happening() {
        return Ok(None);
    }
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(Some(*timeout.after))
}

/// ureq's error for an I/O error under `timeout` (a socket timeout reads as `WouldBlock`).
fn io_error(err: io::Error, timeout: NextTimeout) -> ureq::Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(err),
    }
}

impl Transport for Guarded {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let left = time_left(timeout)?;
        if left != self.write_timeout {
            self.stream.set_write_timeout(left)?;
            self.write_timeout = left;
        }
        let output = &self.buffers.output()[..amount];
        (&self.stream)
            .write_all(output)
            .map_err(|err| io_error(err, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let left = time_left(timeout)?;
        if left != self.read_timeout {
            self.stream.set_read_timeout(left)?;
            self.read_timeout = left;
        }
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&self.stream).read(input) {
                Ok(amount) => break amount,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // ureq 3.5.2 takes a reset for the server's clean close, which would make a
                // body delimited by the close whole when it was cut: keep it an error.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(ureq::Error::Io(io::Error::other(err)));
                }
                Err(err) => return Err(io_error(err, timeout)),
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open means: nothing to read and no error, without blocking (ureq's own probe).
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let open = matches!(
            (&self.stream).read(&mut [0u8]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock
        );
        open && self.stream.set_nonblocking(false).is_ok()
    }
}

/// Resolves with std's `ToSocketAddrs` on the calling thread (no helper thread left behind).
#[derive(Debug)]
struct StdResolver {
    done: Done,
}

impl Resolver for StdResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if self.done.cancelled() {
            return Err(ureq::Error::Io(Error::cancelled().into()));
        }
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(ureq::Error::BadUri(uri.to_string()));
        };
        let Some(host_and_port) = DefaultResolver::host_and_port(scheme, authority) else {
            return Err(ureq::Error::BadUri(uri.to_string()));
        };
        let mut resolved = self.empty();
        for addr in host_and_port.to_socket_addrs()? {
            if resolved.try_push(addr).is_err() {
                break;
            }
        }
        if resolved.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(resolved)
    }
}
