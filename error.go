package mesh

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the wire contract: append only, never rename.
const (
	EUnauthorized = "unauthorized" // missing, forged or revoked token
	EForbidden    = "forbidden"    // authenticated, but not allowed
	ENotFound     = "not_found"    // no such room, participant or path
	EInvalid      = "invalid"      // malformed input: JSON, fields, types, UTF-8
	ETooLarge     = "too_large"    // a frame, text or body over its limit
	ERateLimited  = "rate_limited" // too many messages or connections
	EBlocked      = "blocked"      // the guard refused the content
	EConflict     = "conflict"     // already exists, or a stale revision
	EUnavailable  = "unavailable"  // the node is shutting down or storage failed
	EInternal     = "internal"     // a bug or an I/O failure; details are logged, not sent
)

// Error is the one error type users see. Message is a sentence for humans
// that names the problem; Code is one of the E* constants.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EInternal for any other non-nil error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic sentence for any other error so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
