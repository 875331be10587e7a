//! What a sender needs: the offer for a file, transfer ids, piece sizes.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::messages::FileOffer;

/// The size of the binary messages a sender cuts a file into.
pub const PIECE: usize = 64 * 1024;
/// The largest binary message of the protocol; a receiver can bound its
/// reassembly ([`crate::PeerConfig::max_message_size`]) to this.
pub const MAX_PIECE: usize = 256 * 1024;

/// The offer for the file at `path`: its base name, size and SHA-256 (the
/// file is read once to hash it).
pub async fn offer_for(path: &Path) -> std::io::Result<FileOffer> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; PIECE];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    Ok(FileOffer {
        id: new_id(),
        name,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A transfer id unique within this process (and, with the clock, across
/// runs): `[0-9a-f-]`, well within the id rule.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_offer_describes_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"hello\n").expect("write");
        let offer = offer_for(&path).await.expect("offer");
        assert_eq!((offer.name.as_str(), offer.size), ("notes.txt", 6));
        assert_eq!(
            offer.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(offer.validate(), Ok(()));
        assert_ne!(new_id(), new_id());
    }
}
