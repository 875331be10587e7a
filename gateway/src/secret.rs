//! The JWT secret when none is configured: generated once, kept in the data
//! directory (mode 0600) so tokens survive a restart.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

const FILE: &str = "jwt-secret";

/// Reads the kept secret or creates one. Returns the secret and whether it is new.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<(String, bool)> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok((s.trim().to_owned(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&path)?.write_all(secret.as_bytes())?;
    Ok((secret, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create(&dir.path().join("nested")).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        let (again, created) = load_or_create(&dir.path().join("nested")).unwrap();
        assert!(!created);
        assert_eq!(first, again);
    }
}
