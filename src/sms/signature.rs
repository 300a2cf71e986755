//! Twilio webhook signatures (`X-Twilio-Signature`): computing and checking them.
//!
//! Invariants: the signed string is the URL exactly as given (query string included)
//! followed by every form parameter as name then value, no separators, sorted byte-wise
//! by name and then by value; the MAC is HMAC-SHA1 keyed with the auth token, sent as
//! standard base64 with padding. Nothing here panics, whatever the input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio sends for a form POST to `url` with `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    // HMAC takes a key of any length, so there is never a MAC-less case in practice;
    // an empty string (which no valid header equals) stands in rather than a panic.
    mac_of(auth_token, url, params)
        .map(|mac| STANDARD.encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `header` is the signature of this request. Constant-time in the comparison
/// (use hmac's `verify_slice` on the base64-decoded header). A header that is not
/// valid base64, or empty, is simply false.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    // Proxies and frameworks sometimes leave whitespace around header values.
    let header = header.trim();
    if header.is_empty() {
        return false;
    }
    let Ok(claimed) = STANDARD.decode(header) else {
        return false;
    };
    match mac_of(auth_token, url, params) {
        // `verify_slice` compares in constant time, so timing does not leak how
        // much of a forged signature was right.
        Some(mac) => mac.verify_slice(&claimed).is_ok(),
        None => false,
    }
}

/// The HMAC state after feeding it the URL and the sorted parameters.
fn mac_of(auth_token: &str, url: &str, params: &[(String, String)]) -> Option<HmacSha1> {
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).ok()?;
    mac.update(url.as_bytes());
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    // `str` orders byte-wise, which is how Twilio sorts; the value breaks ties so a
    // repeated name signs the same whatever order the form listed it in.
    sorted.sort_unstable();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn published_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    // Published vector: Twilio's own helper libraries document this request and
    // signature — twilio-php docs/usage/validation.rst and twilio-python
    // tests/unit/test_request_validator.py (`test_compute_signature`).
    const PUBLISHED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    #[test]
    fn matches_published_vector() {
        assert_eq!(sign(TOKEN, URL, &published_params()), PUBLISHED);
        assert!(verify(TOKEN, URL, &published_params(), PUBLISHED));
    }

    // Published vector for a repeated name (twilio-python
    // tests/unit/test_request_validator.py, `duplicate_expected`): values of a
    // repeated name are sorted too, and "Sid" sorts before "SidAccount".
    #[test]
    fn matches_published_vector_with_repeated_name() {
        let params = p(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(sign(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    // Published vector for an inbound SMS (twilio-ruby
    // spec/util/request_validator_spec.rb, "should properly validate a Twilio SMS
    // request").
    #[test]
    fn matches_published_sms_vector() {
        let params = p(&[
            ("ToState", "CA"),
            ("FromState", "CA"),
            ("AccountSid", "ACba8bc05eacf94afdae398e642c9cc32d"),
            ("SmsMessageSid", "SM2003cbd5e6a3701999aa3e5f20ff2787"),
            ("Body", "Orly"),
            ("From", "+14159354345"),
            ("FromCity", "SAN FRANCISCO"),
            ("SmsStatus", "received"),
            ("FromZip", "94107"),
            ("FromCountry", "US"),
            ("To", "+14158141819"),
            ("ToCity", "SAN FRANCISCO"),
            ("ToZip", "94105"),
            ("ToCountry", "US"),
            ("ApiVersion", "2010-04-01"),
            ("SmsSid", "SM2003cbd5e6a3701999aa3e5f20ff2787"),
        ]);
        let token = "2bd9e9638872de601313dc77410d3b23";
        let url = "http://twiliotests.heroku.com/validate/sms";
        assert!(verify(token, url, &params, "mxeiv65lEe0b8L6LdVw2jgJi8yw="));
    }

    // An independent computation: the signed string built by hand and fed to the
    // hmac crate in one piece, rather than through `mac_of`'s sorting and streaming.
    #[test]
    fn agrees_with_hand_built_string() {
        let by_hand = "https://example.org/sms?x=1BodyhelloFrom+15550001111To+15550002222";
        let mut mac = HmacSha1::new_from_slice(b"secret").unwrap();
        mac.update(by_hand.as_bytes());
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        let params = p(&[
            ("To", "+15550002222"),
            ("Body", "hello"),
            ("From", "+15550001111"),
        ]);
        assert_eq!(
            sign("secret", "https://example.org/sms?x=1", &params),
            expected
        );
    }

    #[test]
    fn valid_signature_verifies() {
        let params = p(&[("Body", "hi"), ("From", "+15550001111")]);
        let sig = sign("tok", "https://a.example/hook", &params);
        assert!(verify("tok", "https://a.example/hook", &params, &sig));
    }

    #[test]
    fn wrong_token_fails() {
        assert!(!verify("54321", URL, &published_params(), PUBLISHED));
        assert!(!verify("", URL, &published_params(), PUBLISHED));
    }

    #[test]
    fn altered_value_fails() {
        let mut params = published_params();
        params[2].1 = "1235".to_owned();
        assert!(!verify(TOKEN, URL, &params, PUBLISHED));
    }

    #[test]
    fn added_parameter_fails() {
        let mut params = published_params();
        params.push(("Extra".to_owned(), String::new()));
        assert!(!verify(TOKEN, URL, &params, PUBLISHED));
    }

    #[test]
    fn removed_parameter_fails() {
        let mut params = published_params();
        params.pop();
        assert!(!verify(TOKEN, URL, &params, PUBLISHED));
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut params = published_params();
        params.reverse();
        assert!(verify(TOKEN, URL, &params, PUBLISHED));
        params.swap(0, 3);
        assert_eq!(sign(TOKEN, URL, &params), PUBLISHED);
    }

    #[test]
    fn query_string_is_signed() {
        let params = published_params();
        assert!(!verify(
            TOKEN,
            "https://mycompany.com/myapp.php",
            &params,
            PUBLISHED
        ));
        assert!(!verify(
            TOKEN,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            PUBLISHED
        ));
        assert_ne!(
            sign(TOKEN, "https://a.example/h?x=1", &[]),
            sign(TOKEN, "https://a.example/h", &[])
        );
    }

    #[test]
    fn missing_empty_or_garbage_header_fails() {
        let params = published_params();
        for header in [
            "",
            "   ",
            "not base64!!",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=extra",
            "AAAA",
            "ñ",
            &PUBLISHED[..PUBLISHED.len() - 4],
        ] {
            assert!(!verify(TOKEN, URL, &params, header), "{header:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_in_header_is_tolerated() {
        let params = published_params();
        assert!(verify(TOKEN, URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8= "));
        assert!(verify(
            TOKEN,
            URL,
            &params,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=\r\n"
        ));
        assert!(verify(
            TOKEN,
            URL,
            &params,
            " RSOYDt4T1cUTdK1PDd93/VVr8B8=\t"
        ));
    }

    #[test]
    fn no_params_signs_url_alone() {
        let mut mac = HmacSha1::new_from_slice(b"t").unwrap();
        mac.update(b"https://a.example/h");
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sign("t", "https://a.example/h", &[]), expected);
        assert!(verify("t", "https://a.example/h", &[], &expected));
    }

    #[test]
    fn unicode_values_are_signed_as_utf8() {
        let params = p(&[("Body", "¿Qué tal? 😀")]);
        let sig = sign("tok", URL, &params);
        assert!(verify("tok", URL, &params, &sig));
        assert!(!verify("tok", URL, &p(&[("Body", "¿Que tal? 😀")]), &sig));
    }
}
