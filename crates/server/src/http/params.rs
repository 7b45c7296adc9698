//! Request parameters: Nacos reads the query string and url-encoded form bodies alike.

use std::str::FromStr;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use distro_naming::ParamError;

use crate::state::AppState;

/// All parameters of a request; for a name given twice, the first value wins (as the
/// servlet API's `getParameter` does), query string before body.
///
/// A request has a dozen parameters at most, so they sit in a vector searched in order:
/// cheaper than hashing every name, and decoded straight from the bytes (no serde).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

/// Why the parameters could not be read at all: an oversized body or undecodable text.
#[derive(Debug)]
pub struct ParamsRejection {
    /// 413 for an oversized body, 400 otherwise.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
}

impl FromRequest<AppState> for Params {
    type Rejection = ParamsRejection;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut params = Params::default();
        if let Some(query) = request.uri().query() {
            params.extend_from(query.as_bytes())?;
        }
        let is_form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let limit = state.config.server.body_len_max;
            let body = axum::body::to_bytes(request.into_body(), limit)
                .await
                .map_err(|_| ParamsRejection {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!("request body larger than {limit} bytes"),
                })?;
            params.extend_from(&body)?;
        }
        Ok(params)
    }
}

impl Params {
    /// Parameters from `name=value` pairs (tests).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut params = Self::default();
        for (k, v) in pairs {
            params.insert_first(k.to_owned(), v.to_owned());
        }
        params
    }

    /// Parameters from a query string and an optional form body, undecodable parts ignored
    /// (used to route a request before its handler reads it properly).
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut params = Self::default();
        if let Some(query) = query {
            let _ = params.extend_from(query.as_bytes());
        }
        if let Some(body) = form_body {
            let _ = params.extend_from(body);
        }
        params
    }

    fn extend_from(&mut self, encoded: &[u8]) -> Result<(), ParamsRejection> {
        // Decoding is lossy (bad UTF-8 becomes U+FFFD) and cannot fail, as with serde_urlencoded.
        for (k, v) in form_urlencoded::parse(encoded) {
            self.insert_first(k.into_owned(), v.into_owned());
        }
        Ok(())
    }

    /// Adds a parameter; a name given again is kept but never read, as [`Params::get`]
    /// finds the first (no de-duplication here: it would be quadratic in a hostile body).
    fn insert_first(&mut self, name: String, value: String) {
        self.0.push((name, value));
    }

    /// The value, if present (blank values count as present).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first present of several names (Nacos accepts aliases like `clusterName`/`cluster`).
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// The non-blank value, or a "required" error.
    pub fn required(&self, name: &str) -> Result<&str, ParamError> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ParamError::Missing(name.to_owned())),
        }
    }

    /// The value or a default when absent or blank.
    pub fn optional<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => v,
            _ => default,
        }
    }

    /// A number, or `default` when absent; an unparsable value is an error.
    pub fn number<T: FromStr>(&self, name: &str, default: T) -> Result<T, ParamError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(text) => text.parse().map_err(|_| illegal_number(name, text)),
        }
    }

    /// A required number.
    pub fn required_number<T: FromStr>(&self, name: &str) -> Result<T, ParamError> {
        let text = self.required(name)?.trim();
        text.parse().map_err(|_| illegal_number(name, text))
    }

    /// A boolean (`true`, case-insensitive, is true; anything else false), or `default`.
    pub fn boolean(&self, names: &[&str], default: bool) -> bool {
        match self.first(names).map(str::trim) {
            None | Some("") => default,
            Some(text) => text.eq_ignore_ascii_case("true"),
        }
    }
}

fn illegal_number(name: &str, text: &str) -> ParamError {
    ParamError::Illegal {
        param: name.to_owned(),
        detail: format!("Param '{name}' is illegal, it should be a number (current: {text})."),
    }
}
