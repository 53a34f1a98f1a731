//! Test media made in memory: 16-bit mono PCM WAV with a sine tone, optionally
//! carrying a text marker in a LIST/INFO comment, so tests need no files.

/// A 16-bit PCM WAV header for `data_len` bytes of samples, with `extra` chunks
/// (e.g. LIST/INFO) between the format and the data.
pub fn header(rate: u32, channels: u16, data_len: u32, extra: &[u8]) -> Vec<u8> {
    let mut w = Vec::with_capacity(44 + extra.len());
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + extra.len() as u32 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&channels.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    w.extend_from_slice(&(2 * channels).to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(extra);
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w
}

/// `secs` of a `freq` Hz tone at `rate` Hz.
pub fn tone(secs: f64, freq: f64, rate: u32, marker: Option<&str>) -> Vec<u8> {
    let n = (secs * rate as f64) as u32;
    let mut info = Vec::new();
    if let Some(m) = marker {
        let mut text = m.as_bytes().to_vec();
        text.push(0);
        if text.len() % 2 == 1 {
            text.push(0);
        }
        info.extend_from_slice(b"LIST");
        info.extend_from_slice(&(4 + 8 + text.len() as u32).to_le_bytes());
        info.extend_from_slice(b"INFOICMT");
        info.extend_from_slice(&(text.len() as u32).to_le_bytes());
        info.extend_from_slice(&text);
    }
    let mut w = header(rate, 1, n * 2, &info);
    for i in 0..n {
        let v = (f64::sin(2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64) * 12_000.0) as i16;
        w.extend_from_slice(&v.to_le_bytes());
    }
    w
}

pub use archive::sha256_hex;
