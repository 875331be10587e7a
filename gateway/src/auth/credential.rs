//! Finds the credential a handshake carries, in the contract's order
//! (PROTOCOL.md §2). The first carrier present decides: a bad token there is
//! refused rather than passed over for the next carrier. An empty one (`""`,
//! `Bearer ` with nothing after it) is not present.

use http::HeaderMap;
use serde_json::Value;

use super::error::AuthError;

/// A credential as presented, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Jwt(String),
    ApiKey(String),
}

impl Credential {
    /// A bearer value is a JWT when it has the JWT's three dot-separated parts;
    /// anything else is taken for an API key (the seed's client sends its key as
    /// `Authorization: Bearer <api_key>`).
    pub fn from_bearer(value: &str) -> Self {
        let value = value.trim();
        if value.split('.').count() == 3 {
            Credential::Jwt(value.to_owned())
        } else {
            Credential::ApiKey(value.to_owned())
        }
    }
}

/// `Some(Some(c))`: carrier present and well-formed; `Some(None)`: carrier present
/// but unusable (e.g. a number); `None`: carrier absent.
type Carrier = Option<Option<Credential>>;

/// Reads the handshake's credential. `Ok(None)` means there was none at all;
/// an error means the first carrier present was malformed.
pub fn find(
    auth: Option<&Value>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<Credential>, AuthError> {
    let carriers: [&dyn Fn() -> Carrier; 5] = [
        &|| auth_field(auth, "token").map(|v| v.map(Credential::from_bearer)),
        &|| bearer_header(headers),
        &|| cookie(headers, "access_token").map(|v| Some(Credential::from_bearer(&v))),
        &|| query_param(query, "token").map(|v| Some(Credential::from_bearer(&v))),
        &|| api_key(auth, headers),
    ];
    for carrier in carriers {
        if let Some(found) = carrier() {
            return found.map(Some).ok_or(AuthError::Malformed);
        }
    }
    Ok(None)
}

/// An empty string is no credential at all (`auth.token || …` in NestJS
/// code): the next carrier decides.
fn auth_field<'a>(auth: Option<&'a Value>, key: &str) -> Option<Option<&'a str>> {
    match auth?.get(key)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(Some(s)),
        _ => Some(None),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn bearer_header(headers: &HeaderMap) -> Carrier {
    let value = header(headers, "authorization")?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Some(None);
    }
    if rest.trim().is_empty() {
        return None;
    }
    Some(Some(Credential::from_bearer(rest)))
}

fn api_key(auth: Option<&Value>, headers: &HeaderMap) -> Carrier {
    if let Some(found) = auth_field(auth, "apiKey") {
        return Some(found.map(|k| Credential::ApiKey(k.to_owned())));
    }
    let key = header(headers, "x-api-key").or_else(|| header(headers, "api-key"))?;
    Some(Some(Credential::ApiKey(key.to_owned())))
}

/// The value of cookie `name` from every `Cookie` header: RFC 6265 pairs,
/// percent-decoded, surrounding quotes removed.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
        .filter(|v| !v.is_empty())
}

/// The value of query parameter `name`, form-decoded (`+` is a space).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "aaa.bbb.ccc";

    /// `find` with a comparable error.
    fn find_ok(
        auth: Option<&Value>,
        h: &HeaderMap,
        q: Option<&str>,
    ) -> Result<Option<Credential>, ()> {
        find(auth, h, q).map_err(|_| ())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn auth_token_comes_first() {
        let h = headers(&[("authorization", "Bearer x.y.z")]);
        let got = find_ok(Some(&json!({ "token": JWT })), &h, Some("token=q.q.q"));
        assert_eq!(got, Ok(Some(Credential::Jwt(JWT.into()))));
    }

    #[test]
    fn each_carrier_alone_is_found() {
        let none = HeaderMap::new();
        assert_eq!(
            find_ok(None, &headers(&[("authorization", "Bearer a.b.c")]), None),
            Ok(Some(Credential::Jwt("a.b.c".into())))
        );
        assert_eq!(
            find_ok(
                None,
                &headers(&[("cookie", "theme=dark; access_token=a.b.c")]),
                None
            ),
            Ok(Some(Credential::Jwt("a.b.c".into())))
        );
        assert_eq!(
            find_ok(None, &none, Some("EIO=4&transport=polling&token=a.b%2Ec")),
            Ok(Some(Credential::Jwt("a.b.c".into())))
        );
        assert_eq!(
            find_ok(Some(&json!({ "apiKey": "k1" })), &none, None),
            Ok(Some(Credential::ApiKey("k1".into())))
        );
        assert_eq!(
            find_ok(None, &headers(&[("x-api-key", "k2")]), None),
            Ok(Some(Credential::ApiKey("k2".into())))
        );
        assert_eq!(
            find_ok(None, &headers(&[("api-key", "k3")]), None),
            Ok(Some(Credential::ApiKey("k3".into())))
        );
        assert_eq!(find_ok(Some(&json!({})), &none, Some("EIO=4")), Ok(None));
    }

    #[test]
    fn cookies_and_queries_are_decoded_as_their_rfcs_say() {
        let h = headers(&[
            ("cookie", "a=1"),
            ("cookie", r#"theme=dark; access_token="a.b%2Ec"; x=y"#),
        ]);
        assert_eq!(cookie(&h, "access_token").as_deref(), Some("a.b.c"));
        assert_eq!(cookie(&h, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(
            query_param(Some("token=a+b%2Bc&x=1"), "token").as_deref(),
            Some("a b+c")
        );
        assert_eq!(query_param(Some("tokenx=1&token="), "token"), None);
    }

    #[test]
    fn a_bearer_that_is_not_a_jwt_is_an_api_key() {
        assert_eq!(
            find_ok(None, &headers(&[("authorization", "Bearer abcdef")]), None),
            Ok(Some(Credential::ApiKey("abcdef".into())))
        );
    }

    #[test]
    fn an_empty_carrier_counts_as_absent() {
        // `auth: { token: "" }` (a client with no token yet) leaves the
        // header to decide, as `auth.token || header` does in NestJS code.
        let bearer = headers(&[("authorization", "Bearer a.b.c")]);
        for empty in [
            json!({ "token": "" }),
            json!({ "token": "  " }),
            json!({ "apiKey": "" }),
        ] {
            assert_eq!(
                find_ok(Some(&empty), &bearer, None),
                Ok(Some(Credential::Jwt("a.b.c".into()))),
                "{empty}"
            );
            assert_eq!(find_ok(Some(&empty), &HeaderMap::new(), None), Ok(None));
        }
        // An empty Bearer leaves the cookie to decide.
        let h = headers(&[
            ("authorization", "Bearer "),
            ("cookie", "access_token=c.d.e"),
        ]);
        assert_eq!(
            find_ok(None, &h, None),
            Ok(Some(Credential::Jwt("c.d.e".into())))
        );
    }

    #[test]
    fn a_malformed_first_carrier_is_refused_not_skipped() {
        assert_eq!(
            find_ok(
                Some(&json!({ "token": 42 })),
                &HeaderMap::new(),
                Some("token=a.b.c")
            ),
            Err(())
        );
        assert_eq!(
            find_ok(
                None,
                &headers(&[("authorization", "Basic Zm9vOmJhcg==")]),
                Some("token=a.b.c")
            ),
            Err(())
        );
    }
}
