//! How logs name a person: a salted hash of their key, never the key, a name or text.
//! The salt lives in the store, so the same person has the same tag across restarts,
//! and a log alone cannot be joined back to a chat id.

use sha2::{Digest, Sha256};

use crate::user::UserKey;

/// A short, stable, salted tag for log lines.
pub fn tag(salt: &[u8; 16], user: &UserKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(user.to_string().as_bytes());
    let digest = hasher.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Channel;

    #[test]
    fn tags_are_stable_salted_and_opaque() {
        let user = UserKey::new(Channel::Telegram, "123456789");
        let a = tag(&[1; 16], &user);
        assert_eq!(a, tag(&[1; 16], &user));
        assert_ne!(a, tag(&[2; 16], &user));
        assert_eq!(a.len(), 12);
        assert!(!a.contains("123456789"));
    }
}
