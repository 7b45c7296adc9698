//! `resultCode` and `errorCode` values of gRPC responses (`NacosException`, `ResponseCode`).

/// `resultCode` of a successful response.
pub const SUCCESS: i32 = 200;
/// `resultCode` of a failed response.
pub const FAIL: i32 = 500;
/// A request parameter is missing or illegal.
pub const INVALID_PARAM: i32 = 400;
/// The caller lacks the right.
pub const NO_RIGHT: i32 = 403;
/// The resource does not exist.
pub const NOT_FOUND: i32 = 404;
/// An unexpected server failure.
pub const SERVER_ERROR: i32 = 500;
/// The request body could not be parsed (Nacos answers malformed payloads with this).
pub const BAD_GATEWAY: i32 = 502;
/// Too many requests.
pub const OVER_THRESHOLD: i32 = 503;
/// The server is starting (or stopping) and takes no requests.
pub const INVALID_SERVER_STATUS: i32 = 300;
/// The connection has not sent `ConnectionSetupRequest` (or was removed).
pub const UN_REGISTER: i32 = 301;
/// No handler for the request's `metadata.type`.
pub const NO_HANDLER: i32 = 302;
/// The connection's client is already gone.
pub const CLIENT_DISCONNECT: i32 = -401;

/// Message that goes with [`INVALID_SERVER_STATUS`].
pub const MSG_SERVER_STARTING: &str = "Server is starting,please try later.";
/// Message that goes with [`UN_REGISTER`].
pub const MSG_UNREGISTERED: &str = "Connection is unregistered.";
/// Message that goes with [`NO_HANDLER`].
pub const MSG_NO_HANDLER: &str = "RequestHandler Not Found";
/// Prefix of every parameter-check failure message.
pub const PARAM_CHECK_PREFIX: &str = "Param check invalid:";
