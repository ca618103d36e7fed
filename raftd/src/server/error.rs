//! The error answer every part of the server gives: a kind, whose HTTP status API.md
//! fixes, and the `{"error","reason"}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::{ErrorBody, ErrorKind};

/// An error answer: a status and the body API.md fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            body: ErrorBody::new(kind, reason),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
    }
}
