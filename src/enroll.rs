//! Invite codes: how clinic staff enroll people without touching chat ids.
//!
//! A code is 96 random bits in base64url (16 characters, inside Telegram's deep-link
//! alphabet `[A-Za-z0-9_-]` and 64-character limit). Only its SHA-256 is stored, so a copy
//! of the store cannot be used to enroll. The deep link `https://t.me/<bot>?start=<code>`
//! arrives as `/start <code>`; the terminal accepts the same.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Random bytes per code: 96 bits, comfortably over the 64 the issue asks for.
const CODE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("cannot get random bytes for a code: {0}")]
    Random(String),
    #[error("cannot make the QR code: {0}")]
    Qr(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Participant,
    Alumnus,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Ok(Role::Participant),
            "alumnus" | "alumni" | "alumna" => Ok(Role::Alumnus),
            other => Err(format!(
                "unknown role {other:?}: use participant or alumnus"
            )),
        }
    }
}

/// A stored invite (keyed by the code's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub program: String,
    pub role: Role,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked: bool,
}

impl Invite {
    /// What presenting this invite at `now` means.
    pub fn status(&self, now: DateTime<Utc>) -> InviteStatus {
        if self.revoked {
            InviteStatus::Revoked
        } else if self.expires.is_some_and(|e| e <= now) {
            InviteStatus::Expired
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            InviteStatus::UsedUp
        } else {
            InviteStatus::Valid {
                program: self.program.clone(),
                role: self.role,
            }
        }
    }
}

/// The verdict on a presented code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteStatus {
    Valid { program: String, role: Role },
    Unknown,
    Expired,
    UsedUp,
    Revoked,
}

/// A fresh random code.
pub fn new_code() -> Result<String, EnrollError> {
    let mut bytes = [0u8; CODE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| EnrollError::Random(e.to_string()))?;
    Ok(base64url(&bytes))
}

/// Crockford's base-32 alphabet: no I, L, O or U, so a code read aloud or typed on a
/// phone survives case changes and look-alike letters.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a texting code (60 random bits; with expiry and a use limit, far beyond
/// guessing by text message).
const SMS_CODE_CHARS: usize = 12;

/// A fresh code for people who enroll by text: `XXXX-XXXX-XXXX`, case-insensitive. The
/// store keeps the hash of its canonical form (see [`sms_code`]).
pub fn new_sms_code() -> Result<String, EnrollError> {
    let mut bytes = [0u8; SMS_CODE_CHARS];
    getrandom::fill(&mut bytes).map_err(|e| EnrollError::Random(e.to_string()))?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(CROCKFORD[usize::from(b % 32)]))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// The canonical form of a texting code as typed: upper case, without dashes or spaces,
/// with O read as 0 and I or L as 1. `None` if it cannot be one.
pub fn sms_code(text: &str) -> Option<String> {
    let mut out = String::with_capacity(SMS_CODE_CHARS);
    for c in text.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !CROCKFORD.contains(&u8::try_from(c).ok()?) {
            return None;
        }
        out.push(c);
    }
    (out.len() == SMS_CODE_CHARS).then_some(out)
}

/// What the store keeps instead of the code.
pub fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}

/// Whether `text` could be a code at all (Telegram's deep-link alphabet and length).
pub fn looks_like_code(text: &str) -> bool {
    (8..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn deep_link(bot_username: &str, code: &str) -> String {
    format!(
        "https://t.me/{}?start={code}",
        bot_username.trim_start_matches('@')
    )
}

/// Writes `text` as a QR code PNG a clinic can print.
pub fn write_qr_png(text: &str, path: &Path) -> Result<(), EnrollError> {
    std::fs::write(path, qr_png(text)?).map_err(|e| EnrollError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// `text` as a QR code, PNG-encoded.
pub fn qr_png(text: &str) -> Result<Vec<u8>, EnrollError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| EnrollError::Qr(e.to_string()))?;
    let image = code
        .render::<image::Luma<u8>>()
        .min_dimensions(400, 400)
        .build();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| EnrollError::Qr(e.to_string()))?;
    Ok(png)
}

/// A printable invite (A5 portrait at 150 dpi): the title, the QR code, then the lines
/// that say how to join and until when, PNG-encoded. Drawn with an 8×8 bitmap font
/// (public-domain glyphs, Latin-1 included, so Spanish prints), scaled up.
pub fn invite_card_png(
    title: &str,
    qr_text: &str,
    lines: &[String],
) -> Result<Vec<u8>, EnrollError> {
    use image::{GrayImage, Luma, imageops};
    const WIDTH: u32 = 874;
    const HEIGHT: u32 = 1240;
    const MARGIN: u32 = 60;
    let mut page = GrayImage::from_pixel(WIDTH, HEIGHT, Luma([255]));
    let mut y = MARGIN;
    for row in wrap(title, (WIDTH - 2 * MARGIN) / (8 * 5)) {
        draw_text(&mut page, MARGIN, y, &row, 5);
        y += 8 * 5 + 16;
    }
    let code =
        qrcode::QrCode::new(qr_text.as_bytes()).map_err(|e| EnrollError::Qr(e.to_string()))?;
    let qr = code.render::<Luma<u8>>().min_dimensions(480, 480).build();
    let x = (WIDTH.saturating_sub(qr.width())) / 2;
    imageops::overlay(&mut page, &qr, i64::from(x), i64::from(y + 10));
    y += qr.height() + 40;
    for line in lines {
        for row in wrap(line, (WIDTH - 2 * MARGIN) / (8 * 3)) {
            draw_text(&mut page, MARGIN, y, &row, 3);
            y += 8 * 3 + 10;
        }
        y += 14;
    }
    let mut png = Vec::new();
    page.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| EnrollError::Qr(e.to_string()))?;
    Ok(png)
}

/// Words of `text` in rows of at most `width` characters (a longer word gets a row of
/// its own and is cut off at the page's edge).
fn wrap(text: &str, width: u32) -> Vec<String> {
    let width = width as usize;
    let mut rows: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match rows.last_mut() {
            Some(row) if row.chars().count() + 1 + word.chars().count() <= width => {
                row.push(' ');
                row.push_str(word);
            }
            _ => rows.push(word.to_string()),
        }
    }
    rows
}

/// Draws `text` at (`x`, `y`), each glyph pixel a `scale`×`scale` square; characters the
/// font lacks print as `?`, and what runs past the page's edge is left out.
fn draw_text(page: &mut image::GrayImage, x: u32, y: u32, text: &str, scale: u32) {
    use font8x8::UnicodeFonts;
    let mut left = x;
    for c in text.chars() {
        let glyph = font8x8::BASIC_FONTS
            .get(c)
            .or_else(|| font8x8::LATIN_FONTS.get(c))
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (gy, bits) in glyph.iter().enumerate() {
            for gx in 0..8u32 {
                if bits & (1 << gx) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + gx * scale + dx, y + gy as u32 * scale + dy);
                        if px < page.width() && py < page.height() {
                            page.put_pixel(px, py, image::Luma([0]));
                        }
                    }
                }
            }
        }
        left += 8 * scale;
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn texting_codes_survive_case_dashes_and_look_alikes() {
        let code = super::new_sms_code().unwrap();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let canonical = super::sms_code(&code).unwrap();
        assert_eq!(
            super::sms_code(&code.to_lowercase()),
            Some(canonical.clone())
        );
        assert_eq!(super::sms_code(&canonical), Some(canonical.clone()));
        assert!(super::looks_like_code(&canonical));
        assert_eq!(
            super::sms_code("o1lI-ABCD-EFGH").as_deref(),
            Some("0111ABCDEFGH")
        );
        for bad in [
            "",
            "ABCD-EFGH",
            "ABCD-EFGH-JKMN-P",
            "ABCD-EFGH-JKU0",
            "ÀBCD-EFGH-JKMN",
        ] {
            assert_eq!(super::sms_code(bad), None, "{bad}");
        }
        assert_ne!(super::new_sms_code().unwrap(), code, "random");
    }

    use super::*;

    #[test]
    fn codes_are_random_base64url_of_sixteen_characters() {
        let a = new_code().unwrap();
        let b = new_code().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(looks_like_code(&a), "{a}");
        assert_eq!(base64url(b"\xff\xfe\xfd"), "__79");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert!(!looks_like_code("short"));
        assert!(!looks_like_code("has space in it"));
    }

    #[test]
    fn an_invite_expires_runs_out_and_can_be_revoked() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut invite = Invite {
            program: "evening".into(),
            role: Role::Participant,
            created: t,
            expires: Some(t + chrono::Duration::days(14)),
            max_uses: Some(1),
            uses: 0,
            revoked: false,
        };
        assert!(matches!(invite.status(t), InviteStatus::Valid { .. }));
        assert_eq!(
            invite.status(t + chrono::Duration::days(14)),
            InviteStatus::Expired
        );
        invite.uses = 1;
        assert_eq!(invite.status(t), InviteStatus::UsedUp);
        invite.revoked = true;
        assert_eq!(invite.status(t), InviteStatus::Revoked);
    }
}
