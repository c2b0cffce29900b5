//! The build of the book's programs: GOPATH mode (`GO111MODULE=off`; the checkout's `go.mod`
//! would fetch `golang.org/x/net` from the network), with a GOPATH made for the build whose
//! `src/gopl.io` is a symbolic link to the reader's checkout, followed by the directory that
//! holds `golang.org/x/net` (the distribution's `/usr/share/gocode`, or the reader's own GOPATH).
//! The go command runs in the output directory, and writes only the binaries there.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs, by their directory under `ch8/`.
pub const PROGRAMS: [&str; 5] = ["du4", "chat", "netcat3", "reverb2", "crawl3"];
/// Where Debian's golang-golang-x-net-dev puts x/net (GOPATH layout).
const DISTRIBUTION_GOPATH: &str = "/usr/share/gocode";

/// Builds each program into `out`: its path, or why it did not build. An error only when the
/// build cannot start at all (no output directory; the go command is checked by [`version`]).
pub fn build(
    go: &Path,
    gopl: &Path,
    out: &Path,
) -> crate::Result<Vec<(&'static str, crate::Result<PathBuf>)>> {
    let gopl = gopl
        .canonicalize()
        .map_err(|err| format!("{}: {err}", gopl.display()))?;
    let gopath = out.join("gopath");
    let fail = |path: &Path, err: std::io::Error| format!("{}: {err}", path.display());
    if gopath.exists() {
        std::fs::remove_dir_all(&gopath).map_err(|err| fail(&gopath, err))?;
    }
    let src = gopath.join("src");
    std::fs::create_dir_all(&src).map_err(|err| fail(&src, err))?;
    let link = src.join("gopl.io");
    std::os::unix::fs::symlink(&gopl, &link).map_err(|err| fail(&link, err))?;
    let paths = [Some(gopath.clone()), x_net_gopath(go)];
    let paths =
        std::env::join_paths(paths.iter().flatten()).map_err(|err| format!("GOPATH: {err}"))?;
    let mut built = Vec::new();
    for name in PROGRAMS {
        eprintln!("xtask compare: go build gopl.io/ch8/{name}");
        let binary = out.join(name);
        let output = Command::new(go)
            .args(["build", "-o"])
            .arg(&binary)
            .arg(format!("gopl.io/ch8/{name}"))
            .env("GO111MODULE", "off")
            .env("GOPATH", &paths)
            .env_remove("GOFLAGS")
            .current_dir(out)
            .output();
        let result = match output {
            Err(err) => Err(format!("{}: {err}", go.display())),
            Ok(output) if output.status.success() && binary.is_file() => Ok(binary),
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                // go prints `# PACKAGE` above a compile error: the error is the news.
                let mut lines = stderr.lines().map(str::trim);
                let why = lines.find(|line| !line.is_empty() && !line.starts_with("# "));
                Err(why.unwrap_or("no output").chars().take(200).collect())
            }
        };
        built.push((name, result));
    }
    std::fs::remove_dir_all(&gopath).map_err(|err| fail(&gopath, err))?;
    Ok(built)
}

/// The GOPATH entry that holds `golang.org/x/net`: the distribution's, if it has it, else what
/// `go env GOPATH` says (the reader's own).
fn x_net_gopath(go: &Path) -> Option<PathBuf> {
    let distribution = Path::new(DISTRIBUTION_GOPATH);
    if distribution.join("src/golang.org/x/net").is_dir() {
        return Some(distribution.into());
    }
    let output = Command::new(go).args(["env", "GOPATH"]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then(|| text.into())
}

/// `go version`'s line; an error, with how to install Go, if there is no go command.
pub fn version(go: &Path) -> crate::Result<String> {
    match Command::new(go).arg("version").output() {
        Ok(output) => Ok(String::from_utf8_lossy(&output.stdout).trim().to_string()),
        Err(err) => {
            let hint = "install Go: apt-get install golang-go golang-golang-x-net-dev";
            Err(format!("{}: {err} ({hint})", go.display()))
        }
    }
}
