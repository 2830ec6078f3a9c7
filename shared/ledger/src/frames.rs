//! Length-prefixed frames: a file of MessagePack values, each preceded by its length as
//! a 4-byte big-endian integer. The golden replay fixture keeps its log entries and its
//! decision envelopes this way, so every recorded envelope keeps its exact bytes.

use thiserror::Error;

/// Why a frame file could not be read. The fixture is committed, so this means it was
/// cut or edited by hand: regenerate it.
#[derive(Debug, Error, PartialEq)]
pub enum FrameError {
    /// The file ends inside a frame's length or body.
    #[error("frame file truncated at byte {at}")]
    Truncated { at: usize },
    /// A frame claims more than `u32::MAX` bytes (only when writing).
    #[error("frame of {len} bytes is too large")]
    TooLarge { len: usize },
}

/// Concatenates `frames`, each behind its length.
pub fn write_frames<B: AsRef<[u8]>>(frames: &[B]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    for frame in frames {
        let frame = frame.as_ref();
        let len = u32::try_from(frame.len()).map_err(|_| FrameError::TooLarge { len: frame.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(frame);
    }
    Ok(out)
}

/// Splits a frame file back into its frames, borrowing from `bytes`.
pub fn read_frames(bytes: &[u8]) -> Result<Vec<&[u8]>, FrameError> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let head = bytes.get(at..at + 4).ok_or(FrameError::Truncated { at })?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let body = bytes.get(at + 4..at + 4 + len).ok_or(FrameError::Truncated { at })?;
        frames.push(body);
        at += 4 + len;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_cut_file_is_refused() {
        let frames: Vec<Vec<u8>> = vec![b"abc".to_vec(), Vec::new(), vec![0xc1; 300]];
        let bytes = write_frames(&frames).expect("write");
        assert_eq!(read_frames(&bytes).expect("read"), frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(read_frames(&bytes[..bytes.len() - 1]), Err(FrameError::Truncated { at: 11 }));
        assert_eq!(read_frames(&bytes[..2]), Err(FrameError::Truncated { at: 0 }));
        assert_eq!(read_frames(&[]).expect("empty"), Vec::<&[u8]>::new());
    }
}
