//! Disk faults: a torn WAL tail (the node is killed, the newest segment's
//! last bytes truncated or one of them flipped, and the node restarted).

use super::{names, resolve_nodes, Applied, BoxFuture, Ctx, Fault};
use crate::scenario::{FaultKind, Target, TearMode};
use sdr_seeded::Rng;

/// Tears the tail of a WAL segment: truncates the last `bytes` bytes, or flips
/// one byte among them. Returns a description.
pub fn tear_file(
    path: &std::path::Path,
    tear: TearMode,
    bytes: u64,
    rng: &mut Rng,
) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len == 0 {
        return Err(std::io::Error::other("segment is empty"));
    }
    let k = bytes.min(len);
    match tear {
        TearMode::Truncate => {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(len - k)?;
            f.sync_all()?;
            Ok(format!("truncated {k} of {len} bytes"))
        }
        TearMode::Flip => {
            use std::io::{Read, Seek, SeekFrom, Write};
            let off = len - 1 - rng.below(k);
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            f.seek(SeekFrom::Start(off))?;
            let mut b = [0u8; 1];
            f.read_exact(&mut b)?;
            b[0] ^= 0xFF;
            f.seek(SeekFrom::Start(off))?;
            f.write_all(&b)?;
            f.sync_all()?;
            Ok(format!("flipped byte {off} of {len}"))
        }
    }
}

/// Kill, tear the newest WAL segment, and (on stop) restart.
pub struct TornWalFault {
    pub target: Target,
    pub tear: TearMode,
    pub bytes: u64,
    pub(super) nodes: Vec<u32>,
}

impl Fault for TornWalFault {
    fn kind(&self) -> FaultKind {
        FaultKind::TornWal
    }
    fn start<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = match resolve_nodes(&self.target, ctx.cluster, ctx.rng).await {
                Ok(n) => n,
                Err(e) => return Applied::skipped(e),
            };
            let mut details = Vec::new();
            let kind = ctx.cluster.kind();
            let Some(cluster) = ctx.cluster.as_sdr() else {
                return Applied::skipped(format!(
                    "torn-wal needs sdr-node's WAL; system {} has none",
                    kind.name()
                ));
            };
            for id in &nodes {
                match cluster.kill(*id).await {
                    Ok(true) => self.nodes.push(*id),
                    Ok(false) => continue,
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                }
                let seg = match cluster.newest_wal_segment(*id) {
                    Ok(Some(s)) => s,
                    Ok(None) => {
                        details.push(format!("n{id}: killed, no WAL segment to tear"));
                        continue;
                    }
                    Err(e) => return Applied::indeterminate(names(&nodes), e.to_string()),
                };
                match tear_file(&seg, self.tear, self.bytes, ctx.rng) {
                    Ok(d) => details.push(format!(
                        "n{id}: {} {d}",
                        seg.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    )),
                    Err(e) => {
                        return Applied::indeterminate(
                            names(&nodes),
                            format!("tearing {}: {e}", seg.display()),
                        )
                    }
                }
            }
            if self.nodes.is_empty() {
                Applied::skipped("no running target")
            } else {
                Applied::ok(details.join("; "))
            }
        })
    }
    fn stop<'a>(&'a mut self, ctx: &'a mut Ctx<'_>) -> BoxFuture<'a, Applied> {
        Box::pin(async move {
            let nodes = std::mem::take(&mut self.nodes);
            for id in &nodes {
                if let Err(e) = ctx.cluster.restart(*id).await {
                    return Applied::indeterminate(
                        names(&nodes),
                        format!("restart after torn WAL failed: {e}"),
                    );
                }
            }
            if nodes.is_empty() {
                Applied::skipped("nothing to restart")
            } else {
                Applied::ok(names(&nodes))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tear_truncates_and_flips() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("0.wal");
        std::fs::write(&p, vec![0u8; 100]).expect("write");
        let mut rng = Rng::new(1);
        tear_file(&p, TearMode::Truncate, 16, &mut rng).expect("truncate");
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 84);
        tear_file(&p, TearMode::Flip, 8, &mut rng).expect("flip");
        let b = std::fs::read(&p).expect("read");
        assert_eq!(b.len(), 84);
        let flipped: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, x)| **x != 0)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flipped.len(), 1);
        assert!(flipped[0] >= 76);
    }
}
