//! What a client sends the OAuth endpoints, parsed without the web framework (so it can be
//! fuzzed on its own): the form body and the HTTP Basic client credentials.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::OAuthError;

/// The parameters of an `application/x-www-form-urlencoded` body: each at most once (RFC
/// 6749 §3.2), empty values as if omitted.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if value.is_empty() {
            continue;
        }
        if params
            .insert(name.clone().into_owned(), value.into_owned())
            .is_some()
        {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` appears more than once",
                shown(&name)
            )));
        }
    }
    Ok(params)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1),
/// given the header's value if there is one. Other schemes are not client authentication
/// and are ignored.
pub fn parse_basic(authorization: Option<&[u8]>) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let value = std::str::from_utf8(value).unwrap_or_default();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || OAuthError::invalid_client("malformed HTTP Basic credentials");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, then `%XX`.
fn form_decode(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// A client-supplied name as an error message may show it: at most 40 characters, anything
/// but printable ASCII as `?` (no control characters, no escapes that multiply its length).
fn shown(value: &str) -> String {
    value
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_components_are_form_decoded() {
        assert_eq!(form_decode("s3cr%2Bt+%C3%A9%2F%3D%26"), "s3cr+t é/=&");
        assert_eq!(form_decode("plain-id"), "plain-id");
        let header = format!("Basic {}", STANDARD.encode("bill%3Aing:s3cr%2Bt"));
        assert_eq!(
            parse_basic(Some(header.as_bytes())).unwrap(),
            Some(("bill:ing".to_owned(), "s3cr+t".to_owned()))
        );
        assert_eq!(parse_basic(Some(b"Bearer abc")).unwrap(), None);
        assert!(parse_basic(Some(b"Basic !!!")).is_err());
    }

    #[test]
    fn each_form_parameter_once_and_empty_ones_omitted() {
        let params = parse_form(b"grant_type=password&scope=&username=a%20b").unwrap();
        assert_eq!(params.len(), 2);
        assert_eq!(params["username"], "a b");
        assert!(parse_form(b"a=1&a=2").is_err());
    }

    /// Found by the `oauth_input` fuzz target: a repeated name full of control characters
    /// made a message six times the name's length, escapes included.
    #[test]
    fn a_repeated_name_is_shown_short_and_printable() {
        let mut body = b"nAt_tr\xf0nt_pe=atr\xf0nt_pe=a&&ra".to_vec();
        body.extend_from_slice(&[0x06; 60]);
        body.extend_from_slice(b"=1&ra");
        body.extend_from_slice(&[0x06; 60]);
        body.extend_from_slice(b"=2");
        let message = parse_form(&body).unwrap_err().to_string();
        assert!(message.len() < 120, "{message}");
        assert!(message.chars().all(|c| !c.is_control()), "{message}");
        assert!(message.contains("`ra????"), "{message}");
    }
}
