//! `cargo xtask site`: serves a generated site (not written yet).

#[derive(clap::Args)]
pub struct SiteArgs {}

pub fn run(_args: SiteArgs) -> crate::Result {
    Err("the site is not written yet".into())
}
