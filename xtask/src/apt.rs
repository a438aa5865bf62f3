//! Installing a Debian package when a tool `cargo xtask ci` needs is
//! missing: as root only, `apt-get update` when the first attempt fails.

use std::process::Command;

use anyhow::{Result, bail};

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `apt-get install package`; when that fails (stale package lists on a
/// fresh machine), `apt-get update` and once more. `hint` tells a non-root
/// user what to do instead.
pub(crate) fn install(package: &str, hint: &str) -> Result<()> {
    if !is_root() {
        bail!("{package} is not installed and this user cannot install it: {hint}");
    }
    eprintln!("xtask: installing the Debian {package} package");
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    let install = || -> Result<bool> {
        Ok(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .envs(env)
            .status()?
            .success())
    };
    if install()? {
        return Ok(());
    }
    let updated = Command::new("apt-get")
        .args(["update", "-q"])
        .envs(env)
        .status()?
        .success();
    if !updated || !install()? {
        bail!("apt-get install {package} failed");
    }
    Ok(())
}
