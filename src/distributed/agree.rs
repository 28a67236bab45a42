//! The round in which ranks agree to go on: each says whether its own checks passed and what it
//! holds (a few words: counts, fingerprints), and every rank returns the same verdict.

use super::collective::Collective;
use crate::error::Error;

/// One round of agreement. `local` is this rank's words (every rank passes the same number,
/// `what.len()`, each naming what it fingerprints) or the error of its own checks.
///
/// Every rank calls the same collectives whatever the outcome (those of [`verdict`]), so that
/// none waits for ever. Then, on every rank: the errors of [`verdict`]; or, when every rank
/// passed but some rank's words differ from rank 0's, [`Error::RankMismatch`] naming the first
/// such rank and what differs (`what[j]` for the first word `j` that differs).
///
/// `gathered` is working space (kept by the caller so that a step allocates nothing).
pub(crate) fn agree(
    collective: &dyn Collective,
    local: Result<&[u64], Error>,
    what: &[&'static str],
    gathered: &mut Vec<u64>,
) -> Result<(), Error> {
    let width = verdict(collective, local, what.len(), gathered)?;
    let first = &gathered[..width];
    for (rank, row) in gathered.chunks_exact(width).enumerate().skip(1) {
        if let Some(j) = (2..width).find(|&j| row[j] != first[j]) {
            return Err(Error::RankMismatch {
                rank,
                what: what[j - 2],
            });
        }
    }
    Ok(())
}

/// Every rank's verdict on its own checks, with `words` words of what it holds: one
/// all-gather of `[failed, message length, words…]` from every rank into `gathered` (rank `r`'s
/// row at `r · width`, `width` returned), and, when some rank failed, a broadcast of the first
/// failing rank's message. Then a rank whose checks failed returns its own error, and the others
/// [`Error::RankFailed`] naming the first rank that failed.
pub(crate) fn verdict(
    collective: &dyn Collective,
    local: Result<&[u64], Error>,
    words: usize,
    gathered: &mut Vec<u64>,
) -> Result<usize, Error> {
    let width = 2 + words;
    let world = collective.world_size();
    let message = local.as_ref().err().map(ToString::to_string);
    let mut row = [0u64; 10];
    let Some(mine) = row.get_mut(..width) else {
        // More words than a round ever sends (the crate's callers send at most eight).
        return Err(Error::Collective {
            operation: "agree",
            reason: format!("{words} words to agree on (at most 8)"),
        });
    };
    match &local {
        Ok(words) if words.len() == width - 2 => mine[2..].copy_from_slice(words),
        Ok(given) => {
            return Err(Error::Collective {
                operation: "agree",
                reason: format!("{} words given for {words}", given.len()),
            });
        }
        Err(_) => {
            mine[0] = 1;
            mine[1] = message.as_ref().map_or(0, |m| m.len() as u64);
        }
    }
    gathered.clear();
    gathered.resize(world * width, 0);
    collective.all_gather_u64(mine, gathered)?;
    let failed = gathered
        .chunks_exact(width)
        .enumerate()
        .find(|(_, row)| row[0] != 0)
        .map(|(rank, row)| (rank, row[1]));
    if let Some((failed, len)) = failed {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let mut bytes = match &message {
            Some(m) if collective.rank() == failed => m.clone().into_bytes(),
            _ => vec![0u8; len],
        };
        collective.broadcast_u8(&mut bytes, failed)?;
        return match local {
            Err(own) => Err(own),
            Ok(_) => Err(Error::RankFailed {
                rank: failed,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            }),
        };
    }
    Ok(width)
}
