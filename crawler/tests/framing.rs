//! HTTP framing works or fails clearly (issue 17): 1xx answers before the final one are
//! skipped, and a transfer or content coding the client would not decode fails that URL with
//! an error naming it, never silently no links. Each answer comes raw from a local server
//! (`testkit::hostile::Framing`).

use std::time::Duration;

use testkit::hostile::Framing;
use testkit::site::Site;

use crate::util::{Fetched, crawl, set};

#[test]
fn each_framing_gives_its_links_or_an_error_naming_it() {
    for framing in Framing::ALL {
        let site = Site::new()
            .with("/", framing.resource())
            .page("/next", "the end")
            .serve(Duration::ZERO)
            .unwrap();
        let run = crawl(&["--depth", "1", &site.url("/")]);
        let fetched = run.fetched(&site.url(""));
        match framing.error() {
            None => {
                run.expect_code(0);
                assert_eq!(fetched, set(["/", "/next"]), "{framing:?}\n{run}");
            }
            Some(why) => {
                run.expect_code(1);
                assert_eq!(fetched, set(["/"]), "{framing:?}\n{run}");
                assert_eq!(
                    run.stderr,
                    format!("crawler: {}: {why}\n", site.url("/")),
                    "{framing:?}"
                );
            }
        }
    }
}
