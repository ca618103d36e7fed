//! The error answer every part of the server gives: a code, whose HTTP status API.md
//! fixes, and the `{"error","reason"}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use checkers::ErrorCode;

use crate::api::ErrorBody;

/// An error answer: a status and the body API.md fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> ApiError {
        assert!(
            crate::api::http_status(code).is_some(),
            "raftd does not answer with {code}"
        );
        ApiError {
            code,
            body: ErrorBody::new(code, reason),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = crate::api::http_status(self.code)
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}
